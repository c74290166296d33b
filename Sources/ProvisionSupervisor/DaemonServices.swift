import Foundation
import Logging
import Prometheus
import ProvisionConsole
import ProvisionImport
import ProvisionModel
import ProvisionStore
import ServiceLifecycle
import UnixSignals

extension Supervisor {
    /// Runs the daemon's services until SIGTERM or SIGINT, then shuts them down in order:
    /// configuration reloads, the export watcher and the scheduler first, then the rescuer
    /// and the workers (running jobs get `daemon.shutdown_grace_seconds` to finish before they
    /// are cancelled and put back), then the mailer (one last delivery), then the endpoint,
    /// and last the endpoint's connection pool.
    public func runServices(configPath: String, registry: PrometheusCollectorRegistry) async throws {
        let config = configuration
        // A service group stops its services in the reverse of this order.
        let pool = ConnectionPool(database: database, capacity: config.daemon.httpConnections)
        var services: [any Service] = [pool]
        if let operations = OperationsServer.make(supervisor: self, pool: pool, registry: registry) { services.append(operations) }
        let pipeline = ImportPipeline(database: database, stateDirectory: config.stateDirectory, logger: logger)
        if let console = try await ConsoleServer.make(
            configuration: { [self] in self.configuration }, pool: pool, pipeline: pipeline, logger: logger,
            onListening: { [self] address in await recordConsoleAddress(address) })
        {
            services.append(console)
        }
        services.append(OutboxService(supervisor: self))
        services.append(WorkerService(supervisor: self, count: config.daemon.workers))
        services.append(RescueService(supervisor: self))
        services.append(ScheduleService(supervisor: self))
        services.append(WatchService(supervisor: self))
        // Signals are trapped before "running" is logged, so one sent the moment the daemon
        // says it runs is handled, never the default action (which would kill it).
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        let stops = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        services.append(ReloadService(supervisor: self, path: configPath, hangups: hangups))
        var quiet = logger
        quiet.logLevel = .warning
        var configuration = ServiceGroupConfiguration(services: services, logger: quiet)
        configuration.maximumGracefulShutdownDuration = .seconds(config.daemon.shutdownGraceSeconds)
        configuration.maximumCancellationDuration = .seconds(15)
        let group = ServiceGroup(configuration: configuration)
        PluginSandbox.warnIfWeak(config.plugins, logger: logger)
        logger.notice(
            "running",
            metadata: [
                "workers": "\(config.daemon.workers)", "sources": "\(config.sources.count)",
                "time_zone": "\(config.daemon.timeZone.identifier)", "identity": "\(identity)",
            ])
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            tasks.addTask { [logger] in
                // Keeps listening after the first signal, so that this task never ends before
                // the group: the group's end is what ends the daemon.
                for await signal in stops {
                    logger.notice("shutting down", metadata: ["signal": "\(signal)"])
                    await group.triggerGracefulShutdown()
                }
            }
            try await tasks.next()  // the group, once shut down (or when a service failed)
            tasks.cancelAll()
        }
        logger.notice("stopped")
    }
}

extension Supervisor {
    func recordConsoleAddress(_ address: String) async {
        do {
            try PrivateFiles.write(Array((address + "\n").utf8), to: configuration.consoleAddressFile)
        } catch {
            logger.warning("could not record the console's address", metadata: ["error": "\(error)"])
        }
    }
}
