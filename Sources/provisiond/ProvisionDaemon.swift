import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
import ProvisionApp
import ProvisionConfig
import ProvisionStore
import ProvisionSupervisor

@main
struct ProvisiondCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "provisiond",
        abstract: "The SEND Provision supervisor daemon.",
        discussion: """
            Reads the configuration, opens the database (starting the embedded PostgreSQL
            under state.dir when database.url is not set) and brings its schema up to date.

            Without --once it runs until SIGTERM or SIGINT: imports each source on its cron
            schedule, evaluates a school after each import of its data, delivers the alert
            mail, and serves /healthz and /metrics on daemon.http_listen. SIGHUP reloads the
            configuration (a file with a mistake is refused and the old one kept). Several
            daemons may share one database; each job runs once. See docs/operations.md.

            With --once it imports every source now, evaluates the trust, delivers the mail,
            prints what happened and exits.

            Logs go to standard error, one logfmt line per event ($PROVISION_LOG_LEVEL:
            debug, info (default), notice, warning, error).

            Exit status: 0 success (and after a clean shutdown), 1 some work failed (--once: an
            import failed or a message could not be delivered yet; it stays in the outbox),
            69 database unavailable, 78 bad configuration.
            """)

    @OptionGroup var options: ConfigOption

    @Flag(help: "Run every source now, evaluate, deliver mail, then exit (0 when all of it succeeded, 1 otherwise).")
    var once = false

    func run() async throws {
        try await reportingErrors {
            let config = try options.load()
            let level = ProcessInfo.processInfo.environment["PROVISION_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
            LoggingSystem.bootstrap { label in LogfmtLogHandler(label: label, level: level) }
            let registry = PrometheusCollectorRegistry()
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
            let logger = Logger(label: "provisiond")

            let allSucceeded = try await withMigratedDatabase(config) { database in
                logger.notice("database ready", metadata: ["database": "\(database.summary)"])
                if once { return try await OnceRun(config: config, database: database, logger: logger).run() }
                let supervisor = Supervisor(database: database, configuration: config, logger: logger)
                try await supervisor.runServices(configPath: options.path, registry: registry)
                return true
            }
            if !allSucceeded { throw ExitCode(ExitStatus.failed) }
        }
    }
}
