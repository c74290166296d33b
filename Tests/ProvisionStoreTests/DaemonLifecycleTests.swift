import Foundation
import Synchronization
import ProvisionStore
import ProvisionTestSupport
import Testing

@Suite("provisiond lifecycle")
struct DaemonLifecycleTests {
    @Test func startsTheEmbeddedDatabaseAndStopsItOnSIGTERM() async throws {
        let folder = try TestProcess.temporaryDirectory("daemon")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // Free ports for the endpoints, so tests running at once never contend for one.
        let config = try TestProcess.writeConfig(
            in: folder, databaseURL: nil, extra: "[daemon]\nhttp_listen = \"127.0.0.1:0\"\n\n[console]\nlisten = \"127.0.0.1:0\"\n")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: TestProcess.executable("provisiond"))
        process.arguments = ["--config", config]
        let errors = Pipe()
        process.standardError = errors
        // Collected as it arrives, so the wait below is bounded by its deadline (a blocking
        // read of the pipe could outlast it).
        let collected = Mutex("")
        errors.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            collected.withLock { $0 += String(decoding: data, as: UTF8.self) }
        }
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        let cluster = try EmbeddedCluster(root: folder + "/state/postgres")
        // Wait (bounded) until the daemon says it is running.
        let deadline = ContinuousClock.now + .seconds(60)
        while !collected.withLock({ $0.contains("msg=running") }) && ContinuousClock.now < deadline && process.isRunning {
            try await Task.sleep(for: .milliseconds(100))
        }
        let output = collected.withLock { $0 }
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
