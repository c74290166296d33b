import Foundation
import Logging
import Prometheus
import ServiceLifecycle

extension Supervisor {
    /// Runs the daemon's services until SIGTERM or SIGINT, then shuts them down in order:
    /// configuration reloads and the scheduler first, then the rescuer and the workers
    /// (running jobs get `daemon.shutdown_grace_seconds` to finish before they are
    /// cancelled and put back), then the mailer (one last delivery), then the endpoint.
    public func runServices(configPath: String, registry: PrometheusCollectorRegistry) async throws {
        let config = configuration
        var services: [any Service] = []
        if let operations = OperationsServer.make(supervisor: self, registry: registry) { services.append(operations) }
        services.append(OutboxService(supervisor: self))
        services.append(WorkerService(supervisor: self, count: config.daemon.workers))
        services.append(RescueService(supervisor: self))
        services.append(ScheduleService(supervisor: self))
        services.append(ReloadService(supervisor: self, path: configPath))
        var quiet = logger
        quiet.logLevel = .warning
        var group = ServiceGroupConfiguration(
            services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: quiet)
        group.maximumGracefulShutdownDuration = .seconds(config.daemon.shutdownGraceSeconds)
        group.maximumCancellationDuration = .seconds(15)
        logger.notice(
            "running",
            metadata: [
                "workers": "\(config.daemon.workers)", "sources": "\(config.sources.count)",
                "time_zone": "\(config.daemon.timeZone.identifier)", "identity": "\(identity)",
            ])
        try await ServiceGroup(configuration: group).run()
        logger.notice("stopped")
    }
}
