import Foundation
import Postgres
import ProvisionAccounts
import ProvisionStore
import ProvisionTestSupport
import Testing

/// `provisionctl user`, as the trust's IT staff run it: real processes on a real database.
@Suite struct UserCommandTests {
    static func setUp(_ label: String) async throws -> (config: String, url: String) {
        let url = try await TestPostgres.shared.freshDatabase(label)
        let folder = try TestProcess.temporaryDirectory(label)
        let config = try TestProcess.writeConfig(
            in: folder, databaseURL: url, extra: "[[schools]]\nurn = \"100001\"\nname = \"North School\"\n")
        return (config, url)
    }

    static func ctl(_ config: String, _ arguments: [String], input: String? = nil) async throws -> TestProcess.Result {
        guard let input else { return try await TestProcess.run(TestProcess.executable("provisionctl"), ["--config", config] + arguments) }
        // Standard input through the shell: the password never appears in an argument list.
        return try await TestProcess.run(
            "/bin/sh", ["-c", "printf '%s\\n' \"$PASSWORD\" | \"$0\" \"$@\"", TestProcess.executable("provisionctl"), "--config", config] + arguments,
            environment: ProcessInfo.processInfo.environment.merging(["PASSWORD": input]) { $1 })
    }

    @Test func addListResetTokenAndDisable() async throws {
        let (config, url) = try await Self.setUp("user-cli")
        let added = try await Self.ctl(
            config, ["user", "add", "SENCO@North.Example", "--role", "senco", "--school", "100001", "--password-stdin"], input: "a fine long passphrase")
        #expect(added.exitCode == 0, "\(added.standardError)")
        #expect(added.standardOutput == "added senco@north.example (senco, schools 100001)\n")
        let again = try await Self.ctl(config, ["user", "add", "senco@north.example", "--role", "senco", "--school", "100001"])
        #expect(again.exitCode == 65 && again.standardError.contains("already an account"))
        let weak = try await Self.ctl(config, ["user", "add", "x@north.example", "--role", "senco", "--school", "100001", "--password-stdin"], input: "short")
        #expect(weak.exitCode == 65 && weak.standardError.contains("at least 12 characters"))
        let stranger = try await Self.ctl(config, ["user", "add", "y@north.example", "--role", "senco", "--school", "999999"])
        #expect(stranger.exitCode == 64 && stranger.standardError.contains("999999 is not in the configuration"))
        let badRole = try await Self.ctl(config, ["user", "add", "z@north.example", "--role", "admin"])
        #expect(badRole.exitCode == 64)

        let lead = try await Self.ctl(config, ["user", "add", "lead@trust.example", "--role", "send_lead"])
        #expect(lead.exitCode == 0)
        let oneTime = try #require(lead.standardOutput.split(separator: "\n").last { $0.hasPrefix("one-time password: ") })
            .dropFirst("one-time password: ".count)
        #expect(oneTime.count == 19, "four groups of four: \(oneTime)")

        let list = try await Self.ctl(config, ["user", "list"])
        #expect(list.standardOutput == """
            2 account(s)
              lead@trust.example role=send_lead 2FA not yet enrolled enabled
              senco@north.example role=senco schools=100001 no 2FA enabled

            """)

        let token = try await Self.ctl(config, ["user", "token", "senco@north.example"])
        let printed = token.standardOutput.trimmingCharacters(in: .newlines)
        #expect(token.exitCode == 0 && printed.hasPrefix("spt_") && printed.count == 47)

        let db = try await PostgresConnection.connect(url)
        #expect(try await Accounts.checkPassword(db, email: "lead@trust.example", password: String(oneTime)) != nil)
        #expect(try await Accounts.user(db, apiToken: printed)?.email == "senco@north.example")

        #expect(try await Self.ctl(config, ["user", "reset", "senco@north.example", "--password-stdin"], input: "another fine passphrase").exitCode == 0)
        #expect(try await Accounts.checkPassword(db, email: "senco@north.example", password: "a fine long passphrase") == nil)
        #expect(try await Accounts.checkPassword(db, email: "senco@north.example", password: "another fine passphrase") != nil)

        #expect(try await Self.ctl(config, ["user", "disable", "senco@north.example"]).exitCode == 0)
        #expect(try await Accounts.checkPassword(db, email: "senco@north.example", password: "another fine passphrase") == nil)
        #expect(try await Accounts.user(db, apiToken: printed) == nil)
        #expect(try await Self.ctl(config, ["user", "disable", "nobody@north.example"]).exitCode == 65)
        await db.close()
    }
}
