import Foundation
import ProvisionStore
import ProvisionTestSupport
import Testing

@Suite("provisiond lifecycle")
struct DaemonLifecycleTests {
    @Test func startsTheEmbeddedDatabaseAndStopsItOnSIGTERM() async throws {
        let folder = try TestProcess.temporaryDirectory("daemon")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let config = try TestProcess.writeConfig(in: folder, databaseURL: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: TestProcess.executable("provisiond"))
        process.arguments = ["--config", config]
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        let cluster = try EmbeddedCluster(root: folder + "/state/postgres")
        // Wait (bounded) until the daemon says it is running.
        var output = ""
        let deadline = Date().addingTimeInterval(60)
        while !output.contains("msg=running") && Date() < deadline && process.isRunning {
            output += String(decoding: errors.fileHandleForReading.availableData, as: UTF8.self)
        }
        #expect(output.contains("database ready"))
        #expect(try await cluster.isRunning())
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(try await cluster.isRunning() == false)
    }

    @Test func onceMigratesAndExits() async throws {
        let folder = try TestProcess.temporaryDirectory("daemon-once")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let url = try await TestPostgres.shared.freshDatabase("once")
        let config = try TestProcess.writeConfig(in: folder, databaseURL: url)
        let result = try await TestProcess.run(TestProcess.executable("provisiond"), ["--config", config, "--once"])
        #expect(result.exitCode == 0, "\(result.standardError)")
        let status = try await TestProcess.run(TestProcess.executable("provisionctl"), ["--config", config, "db", "status"])
        #expect(status.standardOutput.contains("Up to date."))
    }
}
