import Foundation
import Logging
import Postgres
import ProvisionConfig
import ProvisionModel

/// What one evaluation run found.
public struct EvaluationSummary: Sendable {
    /// The `evaluation_runs` row this run's results belong to.
    public var runID: Int64
    /// Enrolments looked at.
    public var enrolments = 0
    /// Enrolments with both an entry and an exit score.
    public var withEntryAndExit = 0
    /// Verdicts of the school-level provisions, by verdict.
    public var verdicts: [String: Int] = [:]
    /// Flags raised, by rule.
    public var flags: [String: Int] = [:]
    /// Pupils on roll the growth model cannot judge yet (fewer than two results before the
    /// term starts it tries, on every measure): never flagged as stalled, counted here.
    public var stallNotJudged = 0
    /// Schools the run evaluated.
    public var schoolsEvaluated = 0
    /// Schools whose data, date and settings were those of their latest evaluation: their
    /// results were carried over into this run rather than computed again.
    public var schoolsUnchanged = 0
    /// How long the run took.
    public var duration: Duration = .zero
    /// How long each step took, in order: where the time of a slow evaluation goes.
    public var steps: [(name: String, duration: Duration)] = []
}

/// Runs the evaluation of DESIGN §6 for the trust or one school, in one transaction, and
/// stores the results with the run: per enrolment, per provision and per programme across
/// the trust, and the flags SENCOs act on.
///
/// Row-level work is set-based SQL (entry and exit scores, flags) or one ordered pass over
/// everyone's results read a page at a time (the peers' gains, the stall fits); never a
/// query per pupil.
/// Nothing depends on the wall clock but `asOf`, so re-running on unchanged data gives the
/// same results.
///
/// Only schools whose data changed are evaluated again: a school whose data version
/// (`schools.data_version`, raised by triggers with every change), date and settings are
/// those of its latest evaluation has that evaluation's outcomes and flags carried over into
/// the run, and the verdicts, which pool across schools, are judged again from all of them.
/// A school's comparison with similar pupils elsewhere in the trust uses their data as it
/// was when the school was evaluated; `full` evaluates every school again.
public struct Evaluator: Sendable {
    /// Thresholds and windows (`[evaluation]`).
    public let settings: Configuration.Evaluation
    /// Where the run logs its counts (never a pupil).
    public var logger: Logger
    /// Told the name of each step as it starts (for a progress line at a terminal).
    public var onStep: (@Sendable (String) -> Void)?
    /// Opens another connection; called twice a run. With the first, stall detection (which
    /// only reads pupils and assessments) runs beside the SQL steps, on the main transaction's
    /// snapshot, instead of after them; the second reads half of the peer comparison's pages.
    /// Each is closed when its pass ends. If the first cannot be opened, the steps run one
    /// after another on the main connection; without the second, the peer comparison reads
    /// on the main connection alone.
    public var openHelper: (@Sendable () async throws -> PostgresConnection)?

    /// Pupils read per page by the passes over everyone's results; tests make it small to
    /// cross many pages.
    var pupilsPerPage = PupilBatches.pageSize

    /// An evaluator with `settings`.
    public init(settings: Configuration.Evaluation, logger: Logger = Logger(label: "provision.evaluate")) {
        self.settings = settings
        self.logger = logger
    }

    /// The steps, in order, as `onStep` and `EvaluationSummary.steps` name them.
    static let stepNames = ["enrolment outcomes", "value added", "verdicts", "flags", "stall detection"]

    /// Evaluates `school` (a URN), or the whole trust when nil, as of `asOf`.
    ///
    /// - Parameters:
    ///   - full: evaluate every school in scope, even those unchanged since their latest
    ///     evaluation.
    ///   - followUp: work on the run's flags that must commit with them (the alert
    ///     lifecycle), given each rule's flags as soon as they are all recorded.
    ///   - beforeCommit: work that must commit with the results, or not at all (the digests
    ///     of new alerts); it gets the connection and the run's id.
    public func run(
        _ db: PostgresConnection, school: String? = nil, asOf: SchoolDate, full: Bool = false,
        followUp: FlagFollowUp? = nil, beforeCommit: (PostgresConnection, Int64) async throws -> Void = { _, _ in }
    ) async throws -> EvaluationSummary {
        let started = ContinuousClock.now
        try await db.begin()
        do {
            // The run's new flags have no statistics, so their sorts and hashes are planned for
            // a few rows: at the default 4 MB a school's 23,800 flags and alerts spilled to disk.
            try await db.execute("SET LOCAL work_mem = '64MB'")
            var summary = try await evaluate(db, school: school, asOf: asOf, full: full, followUp: followUp)
            try await beforeCommit(db, summary.runID)
            try await db.commit()
            summary.duration = ContinuousClock.now - started
            logger.info("evaluation finished", metadata: ["run": "\(summary.runID)", "flags": "\(summary.flags.values.reduce(0, +))"])
            return summary
        } catch {
            await db.rollback()
            throw error
        }
    }

    /// The evaluation that an evaluation of `school` (a URN) as of `asOf` would only repeat:
    /// the latest succeeded run that covered the school, when it was as of the same date,
    /// under these settings, at the data version the school has now (nothing it reads has
    /// changed since). Nil when the school changed since, was never evaluated, or has no data.
    ///
    /// What follows an import asks this: after an import that changed nothing of a school
    /// evaluated today, a run whose results would all be copies of that one is not worth its
    /// time (0.5 s of an unchanged million-record re-import's 7 s, copying the school's 23,810
    /// flags and keeping their alerts open).
    public func upToDateRun(_ db: PostgresConnection, school: String, asOf: SchoolDate) async throws -> Int64? {
        guard let id = try await Self.schoolID(db, urn: school) else { return nil }
        let scope = try await SchoolScope.decide(
            db, school: id, asOf: asOf, fingerprint: settings.fingerprint, full: false, lockingReused: false)
        guard scope.evaluated.isEmpty, scope.unchanged.count == 1 else { return nil }
        return scope.unchanged[0].previous?.run
    }

    /// The id of the school with URN `urn`; nil when it has no data yet.
    private static func schoolID(_ db: PostgresConnection, urn: String) async throws -> Int64? {
        try await db.query("SELECT id FROM schools WHERE urn = $1", urn).singleRow()?.decode("id", as: Int64.self)
    }

    private func evaluate(
        _ db: PostgresConnection, school: String?, asOf: SchoolDate, full: Bool, followUp followUpWork: FlagFollowUp?
    ) async throws -> EvaluationSummary {
        var schoolID: Int64?
        if let school {
            guard let id = try await Self.schoolID(db, urn: school) else {
                throw EvaluationError("school \(school) has no data yet: import it first")
            }
            schoolID = id
        }
        let settingsJSON = """
            {"entry_window_days":\(settings.entryWindowDays),"exit_window_days":\(settings.exitWindowDays),\
            "ratio_gain_threshold":\(settings.ratioGainThreshold),"minimum_n":\(settings.minimumN),\
            "stall_evidence":\(settings.stallEvidence),"standardised_error":\(settings.standardisedError),\
            "fingerprint":"\(settings.fingerprint)"}
            """
        let runID = try await db.query(
            "INSERT INTO evaluation_runs (school_id, as_of, settings) VALUES ($1, $2::date, $3::jsonb) RETURNING id",
            schoolID, asOf.iso, settingsJSON
        ).scalar(as: Int64.self)
        var summary = EvaluationSummary(runID: runID)
        let scope = try await SchoolScope.decide(db, school: schoolID, asOf: asOf, fingerprint: settings.fingerprint, full: full)
        summary.schoolsEvaluated = scope.evaluated.count
        summary.schoolsUnchanged = scope.unchanged.count
        let evaluated = scope.evaluatedIDs
        // Kept apart from `summary`, which the steps fill in through inout. `begin` ends the
        // step running (timing it) and announces the next; nil only ends.
        var timings: [(name: String, duration: Duration)] = []
        var running: (index: Int, started: ContinuousClock.Instant)?
        func begin(_ index: Int?) {
            let now = ContinuousClock.now
            if let running { timings.append((Self.stepNames[running.index], now - running.started)) }
            running = index.map { ($0, now) }
            if let index { onStep?("\(Self.stepNames[index]) (\(index + 1) of \(Self.stepNames.count))") }
        }
        // The follow-up of the SQL steps' rules, then of the stall rule's (``FlagFollowUp``).
        let stallRule = StallDetection.rule
        func followUp(on rules: RuleSelection, part: String? = nil) async throws {
            guard let work = followUpWork else { return }
            if part == nil { onStep?(work.name) }
            let started = ContinuousClock.now
            try await work.work(db, runID, rules)
            timings.append((part.map { "\(work.name) (\($0))" } ?? work.name, ContinuousClock.now - started))
        }

        let stalls: StallDetection.Findings
        // A second connection that cannot be had (the server's connection limit, say) only
        // means the steps run one after another.
        if let openHelper, let helper = try? await openHelper() {
            // Stall detection reads only tables the other steps do not change, so on the
            // main transaction's snapshot it sees what they see.
            let snapshot: String
            do {
                snapshot = try await db.query("SELECT pg_export_snapshot() AS snapshot").scalar(as: String.self)
            } catch {
                await helper.close()
                throw error
            }
            // A third connection reads half of the peer comparison's pages (``PupilBatches``).
            let peerReader = await Self.reader(openHelper, on: snapshot)
            let (settings, pageSize) = (self.settings, pupilsPerPage)
            async let beside = { () async throws -> (StallDetection.Findings, Duration) in
                let started = ContinuousClock.now
                let findings = try await StallDetection.judgeAll(
                    on: helper, snapshot: snapshot, schools: evaluated, asOf: asOf, settings: settings, pageSize: pageSize)
                return (findings, ContinuousClock.now - started)
            }()
            let took: Duration
            do {
                try await runSQLSteps(
                    db, runID: runID, schoolID: schoolID, scope: scope, asOf: asOf, peerReaders: peerReader.map { [$0] } ?? [],
                    into: &summary, begin: begin)
                await peerReader?.close()
                begin(nil)
                try await followUp(on: .allBut([stallRule]))
                (stalls, took) = try await beside
            } catch {
                await peerReader?.close()
                _ = try? await beside
                await helper.close()
                throw error
            }
            await helper.close()
            timings.append(("\(Self.stepNames[4]) (beside the others)", took))
        } else {
            try await runSQLSteps(db, runID: runID, schoolID: schoolID, scope: scope, asOf: asOf, into: &summary, begin: begin)
            begin(nil)
            try await followUp(on: .allBut([stallRule]))
            begin(4)
            stalls = try await StallDetection.judgeAll(db, schools: evaluated, asOf: asOf, settings: settings, pageSize: pupilsPerPage)
            begin(nil)
        }
        summary.flags[stallRule, default: 0] += try await StallDetection.record(db, stalls, runID: runID, asOf: asOf)
        try await followUp(on: .only([stallRule]), part: "stall rule")
        summary.steps = timings
        summary.stallNotJudged = try await scope.record(db, runID: runID, stallsNotJudged: stalls.cannotJudge)
        try await db.execute("UPDATE evaluation_runs SET stall_not_judged = $2 WHERE id = $1", runID, summary.stallNotJudged)
        try await db.execute("UPDATE evaluation_runs SET finished_at = now(), status = 'succeeded' WHERE id = $1", runID)
        return summary
    }

    /// A connection opened by `open` in a read-only transaction on `snapshot`; nil when one
    /// cannot be had (the steps then read on fewer connections). Closing it ends the
    /// transaction.
    private static func reader(_ open: @Sendable () async throws -> PostgresConnection, on snapshot: String) async -> PostgresConnection? {
        guard let connection = try? await open() else { return nil }
        do {
            try await SharedSnapshot.join(connection, snapshot: snapshot)
            return connection
        } catch {
            await connection.close()
            return nil
        }
    }

    /// The steps in SQL on the main transaction: outcomes, value added, verdicts and flags.
    /// Outcomes and flags are computed for the schools `scope` evaluates and carried over for
    /// the others; verdicts are judged for every school the run covers.
    private func runSQLSteps(
        _ db: PostgresConnection, runID: Int64, schoolID: Int64?, scope: SchoolScope, asOf: SchoolDate,
        peerReaders: [PostgresConnection] = [], into summary: inout EvaluationSummary, begin: (Int?) -> Void
    ) async throws {
        let evaluated = scope.evaluatedIDs
        begin(0)
        try await EnrolmentOutcomes.compute(
            db, runID: runID, schools: evaluated, asOf: asOf, settings: settings, helpers: peerReaders, pageSize: pupilsPerPage)
        begin(1)
        try await ValueAdded.compute(db, runID: runID, settings: settings)
        try await scope.carryOverOutcomes(db, runID: runID)
        begin(2)
        guard let counts = try await db.query(
            """
            SELECT count(*) AS n, count(*) FILTER (WHERE gain IS NOT NULL) AS complete
              FROM enrolment_outcomes WHERE evaluation_run_id = $1
            """, runID).singleRow()
        else { throw EvaluationError("the run's outcomes could not be counted") }
        summary.enrolments = try counts.decode("n")
        summary.withEntryAndExit = try counts.decode("complete")

        let outcomes = try await ProvisionVerdicts.compute(db, runID: runID, asOf: asOf, settings: settings)
        for outcome in outcomes where outcome.provisionID != nil {
            summary.verdicts[outcome.verdict.rawValue, default: 0] += 1
        }
        begin(3)
        summary.flags = try await Flags.raise(
            db, runID: runID, covering: schoolID, evaluated: evaluated, asOf: asOf, settings: settings)
        for (rule, count) in try await scope.carryOverFlags(db, runID: runID) { summary.flags[rule, default: 0] += count }
    }
}

/// Why an evaluation could not run.
public struct EvaluationError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
