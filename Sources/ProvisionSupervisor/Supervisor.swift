import Foundation
import Logging
import Postgres
import ProvisionConfig
import ProvisionJobs
import ProvisionStore
import ServiceLifecycle
import Synchronization

/// What every service of one `provisiond` process shares: the database, the configuration
/// in force (replaced whole on a good reload), the job queue and the logger.
public final class Supervisor: Sendable {
    /// The database every service uses.
    public let database: ProvisionDatabase
    /// The daemon's logger (logfmt to stderr).
    public let logger: Logger
    /// `host/pid`: names this process in job rows and connection names.
    public let identity: String
    private let current: Mutex<Configuration>

    /// A supervisor for `database` with `configuration` in force.
    public init(database: ProvisionDatabase, configuration: Configuration, logger: Logger) {
        self.database = database
        self.logger = logger
        self.current = Mutex(configuration)
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "host"
        self.identity = "\(host.prefix(32))/\(getpid())"
    }

    /// The configuration in force now.
    public var configuration: Configuration { current.withLock { $0 } }

    /// Puts a new (already checked) configuration in force for everything that starts next.
    public func replaceConfiguration(_ configuration: Configuration) {
        current.withLock { $0 = configuration }
    }

    /// The queue with the retry settings in force.
    public var queue: JobQueue {
        let daemon = configuration.daemon
        return JobQueue(retryBase: .seconds(daemon.retryBaseSeconds), retryMax: .seconds(daemon.retryMaxSeconds))
    }

    /// A connection, retried with a growing wait while the database is unreachable, so a
    /// database restart pauses the daemon instead of stopping it. Nil once shutting down.
    func connectPatiently(applicationName: String) async -> PostgresConnection? {
        var wait = Duration.seconds(1)
        var attempt = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let connection = try await database.connect(applicationName: applicationName)
                if attempt > 0 { logger.notice("database reachable again", metadata: ["connection": "\(applicationName)"]) }
                return connection
            } catch {
                attempt += 1
                if attempt == 1 || attempt.isMultiple(of: 10) {
                    logger.warning(
                        "database unavailable, retrying",
                        metadata: ["connection": "\(applicationName)", "error": "\(error)", "attempt": "\(attempt)"])
                }
                await pause(wait)
                wait = min(wait * 2, .seconds(30))
            }
        }
        return nil
    }
}

extension Supervisor {
    /// Runs `session` on a connection of its own until shutdown: what every long-running
    /// service does. When the database goes away, it logs, reconnects with a growing wait and
    /// runs `session` again; any other error is logged and retried after `pauseAfterFailure`,
    /// so one failing service never stops the daemon. Cancellation ends it.
    func reconnecting(
        _ applicationName: String, service: String, metadata: Logger.Metadata = [:], pauseAfterFailure: Duration,
        _ session: (PostgresConnection) async throws -> Void
    ) async {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            guard let db = await connectPatiently(applicationName: applicationName) else { return }
            do {
                try await session(db)
            } catch where isConnectionLoss(error) {
                logger.warning("\(service) lost the database; reconnecting", metadata: metadata.merging(["error": "\(error)"]) { $1 })
            } catch is CancellationError {
                await db.close()
                return
            } catch {
                logger.error(
                    "\(service) failed; retrying in \(pauseAfterFailure.components.seconds) s",
                    metadata: metadata.merging(["error": "\(error)"]) { $1 })
                await pause(pauseAfterFailure)
            }
            await db.close()
        }
    }
}

/// Sleeps for `duration`, returning the moment the service is asked to shut down.
func pause(_ duration: Duration) async {
    try? await cancelWhenGracefulShutdown { try await Task.sleep(for: duration) }
}

/// Waits up to `timeout` for a notification on a channel `db` listens to; nil when the time
/// passed or the service is asked to shut down, which wakes the wait at once.
func nextNotification(_ db: PostgresConnection, timeout: Duration) async throws -> PostgresNotification? {
    do {
        return try await cancelWhenGracefulShutdown { try await db.nextNotification(timeout: timeout) }
    } catch is CancellationError where Task.isShuttingDownGracefully && !Task.isCancelled {
        return nil
    }
}
