import ArgumentParser
import Dispatch
import Foundation
import ProvisionAlerts
import ProvisionApp
import ProvisionConfig
import ProvisionEvaluation
import ProvisionModel
import ProvisionImport
import ProvisionStore

@main
struct ProvisionDaemon: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "provisiond",
        abstract: "The SEND Provision supervisor daemon.",
        discussion: """
            Reads the configuration, opens the database (starting the embedded PostgreSQL
            under state.dir when database.url is not set) and brings its schema up to date.
            With --once it imports every configured source now, one after another, evaluates
            the trust, and exits. Otherwise it runs until SIGTERM or SIGINT and then shuts down cleanly,
            stopping the embedded PostgreSQL if it started it. (Scheduled imports by each
            source's cron expression are not built yet.)

            Exit status: 0 success, 1 some work failed, 69 database unavailable,
            78 bad configuration.
            """)

    @OptionGroup var options: ConfigOption

    @Flag(help: "Run every source now, then exit (0 when all succeeded, 1 otherwise).")
    var once = false

    func run() async throws {
        try await reportingErrors {
            let config = try options.load()
            let allSucceeded = try await withMigratedDatabase(config) { database in
                log("database ready: \(database.summary)")
                if once { return try await importEverySource(config, database) }
                log("running; stop with SIGTERM or SIGINT")
                let signal = await ShutdownSignal.wait()
                log("received \(signal), shutting down")
                return true
            }
            if !allSucceeded { throw ExitCode(ExitStatus.failed) }
        }
    }

    /// Imports each configured source once; true when none failed.
    private func importEverySource(_ config: Configuration, _ database: ProvisionDatabase) async throws -> Bool {
        let catalog = PluginCatalog.discover(in: config.plugins.directories)
        for problem in catalog.problems { log("plugin problem: \(problem)") }
        let pipeline = ImportPipeline(database: database, scratchRoot: config.stateDirectory + "/scratch")
        var failures = 0
        for source in config.sources {
            guard let plugin = catalog.plugin(named: source.plugin) else {
                log("source \(source.name): no plugin named '\(source.plugin)' in plugins.dirs")
                failures += 1
                continue
            }
            let summary = try await pipeline.run(ImportRequest(source: source, config: config, plugin: plugin))
            let detail = summary.failure.map { ": \($0)" } ?? ""
            log("source \(source.name): run \(summary.runID) \(summary.status.rawValue)\(detail)")
            if summary.status == .failed { failures += 1 }
        }
        log("\(config.sources.count) sources, \(failures) failed")
        // Then evaluate the trust as it now stands.
        let db = try await database.connect(applicationName: "provision-evaluate")
        let (summary, alerts) = try await evaluateAndAlert(db, config: config, asOf: SchoolDate.today())
        for line in EvaluationText.render(summary, alerts: alerts, scope: "the trust").split(separator: "\n") { log(String(line)) }
        // And deliver what the evaluation queued.
        let mail = try await Mailer(transport: Mailer.transport(for: config)).flush(db)
        await db.close()
        log("mail: \(mail.sent) sent, \(mail.deferred) waiting to retry, \(mail.failed) failed (\(config.mail.transport.rawValue)\(config.mail.transport == .maildir ? " " + config.mail.maildir : ""))")
        return failures == 0
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
