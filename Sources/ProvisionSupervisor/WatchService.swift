import Foundation
import Logging
import ProvisionConfig
import ProvisionJobs
import ServiceLifecycle

/// Queues the import of a `watch` source as soon as its export has changed and settled
/// (`daemon.watch_settle_seconds`), so a file dropped by the MIS reaches the SENCO in
/// seconds rather than at the next cron slot. The import's evaluation and any immediate
/// alert mail follow as for any import. An import already waiting serves the change (one
/// unique key per source), and an unchanged export is recognised by its checksum.
struct WatchService: Service {
    let supervisor: Supervisor

    func run() async throws {
        let logger = supervisor.logger
        // What was last said, so a rebuild every few seconds (while an export folder is
        // missing) does not repeat it in the log.
        var said: (watching: Int, missing: [String])?
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let config = supervisor.configuration
            let watched = Self.watched(config)
            guard !watched.isEmpty else {
                // A reload may add a watched source.
                await pause(.seconds(5))
                continue
            }
            let watcher: ExportWatcher
            do {
                watcher = try ExportWatcher(
                    sources: watched, settle: .milliseconds(Int64(config.daemon.watchSettleSeconds * 1000)))
            } catch {
                logger.error("cannot watch exports; watched sources are imported only on their schedule", metadata: ["error": "\(error)"])
                await pause(.seconds(60))
                continue
            }
            if said?.watching != watched.count - watcher.missing.count || said?.missing != watcher.missing {
                if !watcher.missing.isEmpty {
                    logger.warning(
                        "watched export not found; looking again every few seconds",
                        metadata: ["sources": "\(watcher.missing.joined(separator: ","))"])
                }
                logger.info("watching exports", metadata: ["sources": "\(watched.count - watcher.missing.count)"])
                said = (watched.count - watcher.missing.count, watcher.missing)
            }
            await cancelWhenGracefulShutdown {
                for await event in watcher.events {
                    switch event {
                    case .settled(let source):
                        await queueImport(source)
                    case .rewatch:
                        return
                    case .tick:
                        if Self.watched(supervisor.configuration).map(\.path) != watched.map(\.path) || !watcher.missing.isEmpty {
                            return
                        }
                    }
                }
            }
            watcher.stop()
        }
    }

    static func watched(_ config: Configuration) -> [(name: String, path: String)] {
        config.sources.filter(\.watch).map { ($0.name, $0.path) }
    }

    /// Queues the source's import; a database that is away is tried again a few times.
    private func queueImport(_ source: String) async {
        let config = supervisor.configuration
        guard let schools = config.source(named: source)?.schools else {
            supervisor.logger.info("export changed of a source no longer configured; not queued", metadata: ["source": "\(source)"])
            return
        }
        for attempt in 1...5 {
            do {
                let job = try await supervisor.database.withConnection(applicationName: "provisiond-watch") { db in
                    let job = try await supervisor.queue.enqueueImport(
                        db, source: source, schools: schools, reason: "watch", maxAttempts: config.daemon.maxAttempts)
                    try await db.notify(JobQueue.channel)
                    return job
                }
                supervisor.logger.info(
                    job == nil ? "export changed; an import already waiting serves it" : "import queued by watch",
                    metadata: ["source": "\(source)", "job": "\(job.map(String.init) ?? "-")"])
                return
            } catch {
                supervisor.logger.warning(
                    "could not queue the import of a changed export",
                    metadata: ["source": "\(source)", "error": "\(error)", "attempt": "\(attempt)"])
                await pause(.seconds(2 * attempt))
            }
        }
    }
}
