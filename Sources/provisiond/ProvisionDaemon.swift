import ArgumentParser
import Dispatch
import Foundation
import ProvisionApp
import ProvisionConfig
import ProvisionStore

@main
struct ProvisionDaemon: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "provisiond",
        abstract: "The SEND Provision supervisor daemon.",
        discussion: """
            Reads the configuration, opens the database (starting the embedded PostgreSQL
            under state.dir when database.url is not set) and brings its schema up to date.
            With --once it runs every source now and exits; otherwise it runs until SIGTERM
            or SIGINT and then shuts down cleanly, stopping the embedded PostgreSQL if it
            started it.

            Exit status: 0 success, 1 some work failed, 69 database unavailable,
            78 bad configuration.
            """)

    @OptionGroup var options: ConfigOption

    @Flag(help: "Run every source now, then exit (0 when all succeeded, 1 otherwise).")
    var once = false

    func run() async throws {
        try await reportingErrors {
            let config = try options.load()
            try await withMigratedDatabase(config) { database in
                log("database ready: \(database.summary)")
                if once { return }
                log("running; stop with SIGTERM or SIGINT")
                let signal = await ShutdownSignal.wait()
                log("received \(signal), shutting down")
            }
        }
    }

    private func log(_ message: String) {
        FileHandle.standardError.write(Data("provisiond: \(message)\n".utf8))
    }
}

/// Waits for SIGTERM or SIGINT without letting either kill the process outright, so the
/// daemon can finish what it is doing and stop the database it started.
enum ShutdownSignal {
    static func wait() async -> String {
        await withCheckedContinuation { (continuation: CheckedContinuation<String, Never>) in
            let queue = DispatchQueue(label: "signals")
            let once = Once()
            var sources: [any DispatchSourceSignal] = []
            for (number, name) in [(SIGTERM, "SIGTERM"), (SIGINT, "SIGINT")] {
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
                source.setEventHandler {
                    if once.claim() {
                        sources.forEach { $0.cancel() }
                        continuation.resume(returning: name)
                    }
                }
                source.resume()
                sources.append(source)
            }
        }
    }

    final class Once: @unchecked Sendable {
        private var done = false
        private let lock = NSLock()
        func claim() -> Bool {
            lock.lock()
            defer { lock.unlock() }
            if done { return false }
            done = true
            return true
        }
    }
}
