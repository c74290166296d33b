import Foundation
import Logging
import Metrics
import Postgres
import ProvisionImport
import ProvisionJobs
import ProvisionModel
import ProvisionStore
import ServiceLifecycle

/// One worker: claims jobs from the queue and runs them one at a time (DESIGN §2).
///
/// It sleeps on LISTEN until a job is queued or the next retry is due, never polling
/// tightly. A job that fails is retried with exponential backoff by the queue, so a plugin
/// that crashes every run is tried a handful of times over hours, then reported failed.
/// On shutdown the worker stops claiming; a job still running when the grace period ends
/// is cancelled (its plugin killed, its transaction rolled back) and put back.
struct WorkerService: Service {
    let supervisor: Supervisor
    let count: Int

    /// All workers run in one service, so a shutdown reaches them at the same moment.
    func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<count {
                group.addTask { await Worker(supervisor: supervisor, index: index).run() }
            }
        }
    }
}

/// One worker loop.
struct Worker {
    let supervisor: Supervisor
    let index: Int

    var worker: String { "\(supervisor.identity)/w\(index)" }

    func run() async {
        let logger = supervisor.logger
        var inFlight: ClaimedJob?
        await supervisor.reconnecting(
            JobQueue.applicationNamePrefix + worker, service: "worker", metadata: ["worker": "\(worker)"],
            pauseAfterFailure: .seconds(5)
        ) { db in
            try await db.listen(JobQueue.channel)
            if let job = inFlight {
                // The connection went while the job ran: that attempt is over.
                let outcome = try await supervisor.queue.fail(
                    db, job, worker: worker, error: "the database connection was lost during the run")
                if job.kind == .importSource, let source = job.payload["source"] {
                    try await ImportRuns.closeInterrupted(db, source: source, reason: "the database connection was lost during the run")
                }
                logger.warning("job interrupted by a lost database connection", metadata: ["job": "\(job.id)", "outcome": "\(outcome)"])
                inFlight = nil
            }
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                if let job = try await supervisor.queue.claim(db, worker: worker) {
                    inFlight = job
                    try await execute(job, control: db)
                    inFlight = nil
                    continue
                }
                let next = try await supervisor.queue.nextRunAt(db)
                let wait = min(max(next?.timeIntervalSinceNow ?? 15, 0.05), 15)
                try await waitForWork(db, seconds: wait)
            }
        }
    }

    /// Waits for a NOTIFY on the jobs channel for up to `seconds`; a shutdown wakes it.
    private func waitForWork(_ db: PostgresConnection, seconds: Double) async throws {
        if try await nextNotification(db, timeout: .milliseconds(Int64(seconds * 1000))) != nil {
            // Drain whatever else arrived together; one claim pass handles all.
            while try await db.nextNotification(timeout: .zero) != nil {}
        }
    }

    private func execute(_ job: ClaimedJob, control db: PostgresConnection) async throws {
        var logger = supervisor.logger
        logger[metadataKey: "job"] = "\(job.id)"
        logger[metadataKey: "kind"] = "\(job.kind.rawValue)"
        if let source = job.payload["source"] { logger[metadataKey: "source"] = "\(source)" }
        if let school = job.payload["school"] { logger[metadataKey: "school"] = "\(school)" }
        logger.info("job started", metadata: ["attempt": "\(job.attempt)/\(job.maxAttempts)", "worker": "\(worker)"])
        let queue = supervisor.queue
        let heartbeatEvery = Duration.seconds(max(1, min(15, supervisor.configuration.daemon.rescueAfterSeconds / 4)))
        let started = ContinuousClock.now
        let runner = JobRunner(supervisor: supervisor, worker: worker)
        do {
            // The work and its heartbeat are children of one group: whichever ends first ends
            // the other. The heartbeat is the job's lease: when it can no longer be renewed (the
            // queue's connection is gone, or the job was rescued and is someone else's), it
            // throws `LeaseLost` and the work is cancelled, so a rescued job never runs twice.
            try await withThrowingTaskGroup(of: Void.self) { [worker] group in
                group.addTask { try await runner.run(job, control: db) }
                group.addTask {
                    while true {
                        try await Task.sleep(for: heartbeatEvery)
                        guard (try? await queue.heartbeat(db, job, worker: worker)) == true else {
                            try Task.checkCancellation()  // a shutdown, not a lost lease
                            throw LeaseLost()
                        }
                    }
                }
                try await group.next()  // the work finished (or either child threw)
                group.cancelAll()
            }
            try await queue.complete(db, job, worker: worker)
            Counter(label: "provision_jobs_total", dimensions: [("kind", job.kind.rawValue), ("outcome", "completed")]).increment()
            logger.info("job completed", metadata: ["seconds": "\(String(format: "%.1f", (ContinuousClock.now - started).seconds))"])
        } catch is LeaseLost {
            logger.warning("job stopped: its lease could not be renewed (database lost, or the job was rescued)")
            _ = try await queue.fail(db, job, worker: worker, error: "stopped: the worker lost contact with the queue")
        } catch is CancellationError {
            try await queue.release(db, job, worker: worker, reason: "interrupted: the daemon was stopped")
            logger.notice("job interrupted by shutdown and put back")
            throw CancellationError()
        } catch JobFailure.postpone(let until, let reason) {
            try await queue.postpone(db, job, worker: worker, until: until)
            logger.info("job postponed", metadata: ["reason": "\(reason)"])
        } catch JobFailure.discard(let reason) {
            try await queue.discard(db, job, worker: worker, reason: reason)
            Counter(label: "provision_jobs_total", dimensions: [("kind", job.kind.rawValue), ("outcome", "discarded")]).increment()
            logger.warning("job discarded", metadata: ["reason": "\(reason)"])
        } catch where isConnectionLoss(error) {
            throw error
        } catch {
            let outcome = try await queue.fail(db, job, worker: worker, error: "\(error)")
            Counter(label: "provision_jobs_total", dimensions: [("kind", job.kind.rawValue), ("outcome", "failed")]).increment()
            switch outcome {
            case .retrying(_, let wait):
                logger.warning(
                    "job failed; will retry",
                    metadata: ["error": "\(error)", "retry_in_seconds": "\(Int(wait.seconds.rounded()))"])
            case .failed:
                logger.error("job failed for the last time; giving up", metadata: ["error": "\(error)", "attempts": "\(job.attempt)"])
            case .superseded:
                logger.warning("job failed; a newer job for the same work is waiting", metadata: ["error": "\(error)"])
            case .notOurs:
                logger.warning("job failed after it had been rescued by another worker", metadata: ["error": "\(error)"])
            }
        }
    }
}

/// A running job's lease could not be renewed: thrown by its heartbeat to stop the work.
struct LeaseLost: Error {}
