import Foundation
import Logging
import Metrics
import Postgres
import ProvisionAlerts
import ProvisionConfig
import ProvisionApp
import ProvisionImport
import ProvisionJobs
import ProvisionModel
import ProvisionReports

/// Why a job did not succeed, as the queue should treat it.
enum JobFailure: Error, CustomStringConvertible {
    /// Worth another attempt after the backoff.
    case failed(String)
    /// Can never succeed as queued (its source is no longer configured).
    case discard(String)
    /// Not now: run it again at this time, without counting an attempt.
    case postpone(until: Date, reason: String)

    var description: String {
        switch self {
        case .failed(let reason), .discard(let reason), .postpone(_, let reason): reason
        }
    }
}

/// Does the work of one claimed job. Each job gets connections of its own; the worker's
/// control connection only records the job's state and heartbeats.
struct JobRunner: Sendable {
    let supervisor: Supervisor
    /// The worker running the job, which holds any job it claims with it.
    let worker: String

    /// The channel that wakes the mailer when an evaluation queued messages.
    static let outboxChannel = "provision_outbox"

    func run(_ job: ClaimedJob, control: PostgresConnection) async throws {
        switch job.kind {
        case .importSource: try await importSource(job, control: control)
        case .evaluate: try await evaluate(job, control: control)
        }
    }

    private func importSource(_ job: ClaimedJob, control: PostgresConnection) async throws {
        let config = supervisor.configuration
        guard let name = job.payload["source"], let source = config.source(named: name) else {
            throw JobFailure.discard("source '\(job.payload["source"] ?? "")' is not in the configuration")
        }
        let catalog = PluginCatalog.discover(in: config.plugins.directories)
        guard let plugin = catalog.plugin(named: source.plugin) else {
            throw JobFailure.failed(catalog.unavailable(source.plugin, directories: config.plugins.directories))
        }
        var logger = supervisor.logger
        logger[metadataKey: "job"] = "\(job.id)"
        var pipeline = ImportPipeline(database: supervisor.database, stateDirectory: config.stateDirectory, logger: logger)
        // What a terminal shows for `provisionctl import`, as gauges while the import runs.
        let records = Gauge(label: "provision_import_progress_records", dimensions: [("source", name)])
        let bytes = Gauge(label: "provision_import_progress_bytes", dimensions: [("source", name)])
        // The last run's size, from which the time left follows (0 for a source's first run).
        let expected = Gauge(label: "provision_import_progress_expected_records", dimensions: [("source", name)])
        pipeline.onProgress = { progress in
            records.record(progress.records)
            bytes.record(progress.bytes)
            expected.record(progress.expectedRecords ?? 0)
        }
        defer {
            records.record(0)
            bytes.record(0)
            expected.record(0)
        }
        let summary = try await pipeline.run(ImportRequest(source: source, config: config, plugin: plugin))

        Counter(label: "provision_import_runs_total", dimensions: [("source", name), ("status", summary.status.rawValue)]).increment()
        Counter(label: "provision_import_records_total", dimensions: [("source", name)])
            .increment(by: summary.accepted.values.reduce(0, +))
        Counter(label: "provision_import_rejected_total", dimensions: [("source", name)]).increment(by: summary.rejected)

        switch summary.status {
        case .failed where summary.sourceBusy:
            // A stopped attempt still letting go of the source, or an import run by hand: wait
            // for it without using up an attempt.
            throw JobFailure.postpone(until: Date().addingTimeInterval(10), reason: "another import of source \(name) is running")
        case .failed:
            throw JobFailure.failed("import run \(summary.runID) failed: \(summary.failure ?? "unknown reason")")
        case .unchanged:
            return
        case .succeeded:
            // New data: each of the source's schools is evaluated again, but for a school whose
            // evaluation today already saw exactly this data (the import changed none of it).
            // The import is committed: should the question fail, the schools are evaluated
            // (a failed job would re-run as unchanged and queue nothing).
            var upToDate: [String: Int64] = [:]
            do {
                upToDate = try await supervisor.database.withConnection(applicationName: "provisiond-import") { db in
                    var runs: [String: Int64] = [:]
                    for urn in source.schools {
                        runs[urn] = try await upToDateEvaluation(db, config: config, school: urn, asOf: SchoolDate.today())
                    }
                    return runs
                }
            } catch {
                logger.warning(
                    "could not tell whether the schools' evaluations saw this data; evaluating them",
                    metadata: ["error": "\(error)", "import_run": "\(summary.runID)"])
            }
            for urn in source.schools {
                if let run = upToDate[urn] {
                    logger.info(
                        "school not evaluated again: its data is as its evaluation saw it",
                        metadata: ["school": "\(urn)", "evaluation_run": "\(run)", "import_run": "\(summary.runID)"])
                    continue
                }
                try await supervisor.queue.enqueue(
                    control, kind: .evaluate, payload: ["school": urn, "after_import": "\(summary.runID)"],
                    uniqueKey: JobKind.evaluationKey(school: urn), maxAttempts: config.daemon.maxAttempts)
            }
        }
    }

    /// Evaluates one school (payload `school`), or the whole trust (no `school`): the trust
    /// run is what judges a programme across schools, so each school's evaluation queues one,
    /// delayed by `daemon.trust_evaluation_delay_seconds` so that a night's imports share it.
    ///
    /// When other schools' evaluations are due as well and no import of the trust is waiting
    /// or running (a night's or a bulk import has just ended), the job evaluates the trust
    /// instead and completes theirs with it: the trust run evaluates every school whose data
    /// changed, and reads the trust's results for the peer comparison once for all of them
    /// instead of once per school.
    private func evaluate(_ job: ClaimedJob, control: PostgresConnection) async throws {
        let config = supervisor.configuration
        let urn = job.payload["school"]
        if let urn, config.school(urn: urn) == nil {
            throw JobFailure.discard("school '\(urn)' is not in the configuration")
        }
        try await supervisor.database.withConnection(applicationName: "provisiond-evaluate") { db in
            try await evaluate(job, school: urn, on: db, control: control)
        }
    }

    private func evaluate(_ job: ClaimedJob, school: String?, on db: PostgresConnection, control: PostgresConnection) async throws {
        let config = supervisor.configuration
        // Sources of one school usually arrive together; evaluating between them would mail
        // SENCOs alerts that the next import resolves. Wait until none is running or due.
        let sources: [String] = config.sources.filter { source in school.map { source.schools.contains($0) } ?? true }.map(\.name)
        let busy = try await JobQueue.importsPending(db, sources: sources)
        if busy > 0 {
            throw JobFailure.postpone(until: Date().addingTimeInterval(10), reason: "waiting for \(busy) import(s) of \(school ?? "trust")")
        }
        var urn = school
        var together: [ClaimedJob] = []
        if school != nil, try await JobQueue.importsPending(db, sources: config.sources.map(\.name)) == 0 {
            together = try await supervisor.queue.claimDueSchoolEvaluations(control, worker: worker, besides: job)
            if !together.isEmpty { urn = nil }
        }
        do {
            try await evaluate(job, school: urn, on: db, together: together.count)
        } catch {
            // Theirs run again on their own, their attempts given back.
            for other in together {
                try? await supervisor.queue.release(control, other, worker: worker, reason: "the trust evaluation that took it failed: \(error)")
            }
            throw error
        }
        for other in together {
            try await supervisor.queue.complete(control, other, worker: worker)
            supervisor.logger.info(
                "job completed by the trust evaluation",
                metadata: ["job": "\(other.id)", "kind": "evaluate", "school": "\(other.payload["school"] ?? "")", "with": "\(job.id)"])
        }
    }

    /// Evaluates `urn`, or the trust; `together` other schools' evaluation jobs wait on it.
    private func evaluate(_ job: ClaimedJob, school urn: String?, on db: PostgresConnection, together: Int) async throws {
        let config = supervisor.configuration
        let scope = urn ?? "trust"
        let started = ContinuousClock.now
        let database = supervisor.database
        let (summary, alerts) = try await evaluateAndAlert(
            db, config: config, school: urn, asOf: SchoolDate.today(),
            openHelper: { try await database.connect(applicationName: "provisiond-evaluate-stalls") })
        Timer(label: "provision_evaluation_duration_seconds").recordInterval(since: started)
        Counter(label: "provision_alerts_opened_total", dimensions: [("school", scope)]).increment(by: alerts.opened)
        Counter(label: "provision_alerts_resolved_total", dimensions: [("school", scope)]).increment(by: alerts.resolved)
        // The mailer sends urgent mail now, and any digest the evaluation made due.
        try await db.notify(Self.outboxChannel)
        // Each school's provision map and impact report follow its evaluation. They can be
        // written again at any time, so a failure here is reported, not retried.
        for school in urn.map({ [$0] }) ?? config.schools.map(\.urn) {
            do {
                try await Reports.writeSchoolReports(
                    school: school, db: db, config: config, folder: Reports.folder(for: config), today: SchoolDate.today())
            } catch {
                supervisor.logger.error("could not write the school's reports", metadata: ["school": "\(school)", "error": "\(error)"])
            }
        }
        if urn == nil {
            // Each trust evaluation adds a run with every flag of the trust: what is past
            // `[retention]` goes (docs/operations.md). A failure is reported, and the next
            // trust evaluation tries again.
            do {
                let applied = try await Retention.apply(db, config.retention)
                if !applied.isEmpty { supervisor.logger.info("retention applied: \(applied.summary)") }
            } catch {
                supervisor.logger.error("could not apply [retention]", metadata: ["error": "\(error)"])
            }
        } else {
            try await supervisor.queue.enqueue(
                db, kind: .evaluate, payload: ["scope": "trust"], uniqueKey: JobKind.evaluationKey(school: nil),
                maxAttempts: config.daemon.maxAttempts,
                runAt: Date().addingTimeInterval(Double(config.daemon.trustEvaluationDelaySeconds)))
        }
        supervisor.logger.info(
            "evaluation finished",
            metadata: [
                "job": "\(job.id)", "school": "\(scope)", "run": "\(summary.runID)", "enrolments": "\(summary.enrolments)",
                "schools_evaluated": "\(summary.schoolsEvaluated)", "jobs_done_with_it": "\(together)",
                "alerts_opened": "\(alerts.opened)", "alerts_resolved": "\(alerts.resolved)",
                "messages": "\(alerts.messagesQueued)",
            ])
    }
}

extension Timer {
    func recordInterval(since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
    }
}
