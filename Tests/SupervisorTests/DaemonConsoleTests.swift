import Foundation
import ProvisionTestSupport
import Testing

/// The console as one of provisiond's services: it starts with the daemon, `provisionctl
/// status` names its address, accounts made with `provisionctl user` sign in to it, and it
/// stops with the daemon.
@Suite struct DaemonConsoleTests {
    @Test func theConsoleRunsWithTheDaemonAndStatusSaysWhere() async throws {
        let url = try await TestPostgres.shared.freshDatabase("daemon-console")
        let setup = try DaemonSetup.make("daemon-console", url: url, sources: [.init(name: "mis")])
        defer { setup.remove() }
        let add = try await TestProcess.run(
            "/bin/sh", ["-c", "echo 'a long enough passphrase' | \"$0\" --config \"$1\" user add senco@fenland.example --role senco --school \"$2\" --password-stdin",
                        TestProcess.executable("provisionctl"), setup.config, DaemonSetup.school])
        #expect(add.exitCode == 0, "\(add.standardError)")
        let daemon = try RunningDaemon(config: setup.config)
        #expect(await daemon.waitFor("console listening"))
        let port = try #require(daemon.consolePort)
        let (code, page) = try await httpGet(port: port, path: "/login")
        #expect(code == 200 && page.contains("Sign in"))

        let status = try await setup.provisionctl(["status"])
        #expect(status.standardOutput.contains("Console: http://127.0.0.1:\(port)/"), "\(status.standardOutput)")

        // The account signs in through the running daemon (curl: no redirects followed).
        let signIn = try await TestProcess.run(
            "/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", "-d",
                              "email=senco%40fenland.example&password=a+long+enough+passphrase", "http://127.0.0.1:\(port)/login"])
        #expect(signIn.standardOutput == "303 http://127.0.0.1:\(port)/", "\(signIn.standardOutput)")

        #expect(await daemon.stop() == 0)
        let refused = try await TestProcess.run("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(port)/login"])
        #expect(refused.standardOutput == "000", "nothing listens once the daemon stopped")
    }
}
