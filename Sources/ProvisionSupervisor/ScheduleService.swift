import Foundation
import Logging
import Postgres
import ProvisionJobs
import ServiceLifecycle

/// Queues each source's import when its cron slot comes (DESIGN §2, §10).
///
/// Wakes at the earliest slot, or every minute at most so that a reloaded configuration
/// takes effect promptly. Any number of daemons may run this; each slot is queued once.
struct ScheduleService: Service {
    let supervisor: Supervisor

    func run() async throws {
        let logger = supervisor.logger
        await supervisor.reconnecting("provisiond-schedule", service: "scheduler", pauseAfterFailure: .seconds(30)) { db in
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                let config = supervisor.configuration
                try await SourceSchedules.synchronise(db, sources: config.sources, timeZone: config.daemon.timeZone)
                let queued = try await SourceSchedules.queueDue(
                    db, sources: config.sources, timeZone: config.daemon.timeZone, queue: supervisor.queue,
                    maxAttempts: config.daemon.maxAttempts)
                for slot in queued {
                    logger.info(
                        slot.jobID == nil ? "import already waiting; slot served by it" : "import queued by schedule",
                        metadata: ["source": "\(slot.source)", "job": "\(slot.jobID.map(String.init) ?? "-")"])
                }
                let earliest = try await SourceSchedules.earliestSlot(db)
                let untilSlot = (earliest?.timeIntervalSinceNow ?? 60) + 0.05
                await pause(.milliseconds(Int64(max(0.2, min(untilSlot, 60)) * 1000)))
            }
        }
    }
}
