import Foundation
import Logging
import Metrics
import Postgres
import ProvisionImport
import ProvisionJobs
import ServiceLifecycle

/// Takes back jobs whose worker died (DESIGN §2), every 15 seconds and at start, so an
/// import interrupted by `kill -9` or a lost host runs again: on this daemon or another.
struct RescueService: Service {
    let supervisor: Supervisor

    func run() async throws {
        await supervisor.reconnecting("provisiond-rescue", service: "rescuer", pauseAfterFailure: .seconds(15)) { db in
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                try await rescueOnce(db)
                await pause(.seconds(15))
            }
        }
    }

    private func rescueOnce(_ db: PostgresConnection) async throws {
        let stale = Duration.seconds(supervisor.configuration.daemon.rescueAfterSeconds)
        for job in try await supervisor.queue.rescue(db, staleAfter: stale) {
            if job.kind == .importSource, let source = job.payload["source"] {
                try await ImportRuns.closeInterrupted(db, source: source, reason: "the supervisor running it stopped (job rescued)")
            }
            Counter(label: "provision_jobs_rescued_total", dimensions: [("kind", job.kind?.rawValue ?? "unknown")]).increment()
            supervisor.logger.warning(
                "rescued a job whose worker died",
                metadata: ["job": "\(job.id)", "from": "\(job.worker)", "now": "\(job.state)"])
            if job.state == "available" { try await db.notify(JobQueue.channel) }
        }
    }
}
