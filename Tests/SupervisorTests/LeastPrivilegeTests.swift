import Foundation
import Postgres
import ProvisionTestSupport
import Testing

/// deploy/roles.sql, run for real: the owner migrates, the daemon works without DDL
/// rights, the reader only reads.
@Suite("least-privilege roles", .serialized)
struct LeastPrivilegeTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    static func asRole(_ url: String, _ role: String) -> String {
        url.replacingOccurrences(of: "user=provision", with: "user=\(role)")
    }

    @Test func theDaemonRunsAsItsOwnRoleAndCannotChangeTheSchema() async throws {
        let url = try await TestPostgres.shared.freshDatabase("roles")
        let psql = try await TestProcess.run(
            "/usr/bin/env", ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", Self.repository + "/deploy/roles.sql"])
        #expect(psql.exitCode == 0, "\(psql.standardError)")
        // Twice is harmless.
        let again = try await TestProcess.run(
            "/usr/bin/env", ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", Self.repository + "/deploy/roles.sql"])
        #expect(again.exitCode == 0, "\(again.standardError)")
        // The test cluster asks every role for a password (SCRAM): give the three roles the
        // one the test connection strings carry.
        let password = try #require(URLComponents(string: url)?.queryItems?.first { $0.name == "password" }?.value)
        let admin = try await PostgresConnection.connect(url)
        for role in ["provision_owner", "provision_daemon", "provision_reader"] {
            try await admin.execute("ALTER ROLE \(role) PASSWORD '\(password)'")
        }
        await admin.close()

        // The daemon's role cannot apply migrations, and says who can.
        let daemonURL = Self.asRole(url, "provision_daemon")
        let setup = try DaemonSetup.make("roles", url: daemonURL, sources: [.init(name: "source")])
        defer { setup.remove() }
        let refused = try await setup.provisionctl(["db", "migrate"])
        #expect(refused.exitCode != 0)
        // The refusal is the server's insufficient_privilege, not a lost connection.
        #expect(refused.standardError.contains("[42501]") || refused.standardError.contains("needs the role"), "\(refused.standardError)")

        // The owner migrates; then the daemon imports, evaluates and mails as itself.
        let ownerConfig = try String(contentsOfFile: setup.config, encoding: .utf8)
            .replacingOccurrences(of: daemonURL, with: Self.asRole(url, "provision_owner"))
        try ownerConfig.write(toFile: setup.folder + "/owner.toml", atomically: true, encoding: .utf8)
        let migrated = try await TestProcess.run(TestProcess.executable("provisionctl"), ["--config", setup.folder + "/owner.toml", "db", "migrate"])
        #expect(migrated.exitCode == 0, "\(migrated.standardError)")
        let once = try await TestProcess.run(TestProcess.executable("provisiond"), ["--config", setup.config, "--once"])
        #expect(once.exitCode == 0, "\(once.standardOutput)\(once.standardError)")
        #expect(once.standardOutput.contains("1 sources, 0 failed"))

        let daemon = try await PostgresConnection.connect(daemonURL)
        #expect(try await daemon.count("SELECT count(*) FROM pupils") == 3)
        for ddl in ["DROP TABLE pupils", "CREATE TABLE stray (id int)"] {
            let error = await #expect(throws: PostgresError.self) { try await daemon.execute(ddl) }
            #expect(error?.sqlState == "42501", "\(ddl): \(error.map { "\($0)" } ?? "")")
        }
        await daemon.close()
        let reader = try await PostgresConnection.connect(Self.asRole(url, "provision_reader"))
        #expect(try await reader.count("SELECT count(*) FROM alerts") > 0)
        let refusedDelete = await #expect(throws: PostgresError.self) { try await reader.execute("DELETE FROM alerts") }
        #expect(refusedDelete?.sqlState == "42501")
        await reader.close()
    }
}
