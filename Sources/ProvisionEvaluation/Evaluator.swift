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
    /// Opens another connection; called twice a run, for two connections that read the pass
    /// over everyone's results (``ResultsPass``), in read-only transactions on the main
    /// transaction's snapshot, while the main connection raises the flags that need no
    /// outcome. Each is closed when the pass ends. With one, it reads every page; with none,
    /// the main connection reads them after those flags.
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
    static let stepNames = [
        "entry and exit", "flags from records", "value added", "results read (peers, stalls)", "enrolment outcomes", "verdicts",
        "flags from outcomes",
    ]

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
        try await Self.waitForOtherEvaluations(db, of: schoolID)
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
        // Kept apart from `summary`, which the steps fill in. `begin` ends the step running
        // (timing it) and announces the next; nil only ends.
        var timings: [(name: String, duration: Duration)] = []
        var running: (index: Int, started: ContinuousClock.Instant)?
        func begin(_ index: Int?) {
            let now = ContinuousClock.now
            if let running { timings.append((Self.stepNames[running.index], now - running.started)) }
            running = index.map { ($0, now) }
            if let index { onStep?("\(Self.stepNames[index]) (\(index + 1) of \(Self.stepNames.count))") }
        }
        // The follow-up of the rules raised from the records, then of the others
        // (``FlagFollowUp``).
        func followUp(on rules: RuleSelection, part: String) async throws {
            guard let work = followUpWork else { return }
            onStep?("\(work.name) (\(part))")
            let started = ContinuousClock.now
            try await work.work(db, runID, rules)
            timings.append(("\(work.name) (\(part))", ContinuousClock.now - started))
        }
        // The unchanged schools' flags are carried over here too (every rule's but ineffective
        // intervention, judged again from the verdicts): the records' rules' flags must all be
        // in before their follow-up.
        func flagsFromRecords() async throws {
            begin(1)
            summary.flags = try await Flags.raiseFromRecords(db, runID: runID, evaluated: evaluated, asOf: asOf, settings: settings)
            summary.flags.merge(try await scope.carryOverFlags(db, runID: runID), uniquingKeysWith: +)
            begin(nil)
            try await followUp(on: .only(Flags.fromRecords), part: "records")
        }
        // Needs only the entries and exits, so it is found beside the pass too; stored with
        // the outcomes.
        var valueAdded = ValueAdded.Found()
        func findValueAdded() async throws {
            begin(2)
            valueAdded = try await ValueAdded.find(db, settings: settings)
            begin(nil)
        }

        begin(0)
        // The pass's connections open while the entries and exits are found: a run that
        // evaluates a school always reads the pass; one that evaluates none, only for peers.
        let opening = evaluated.isEmpty ? nil : openHelpers()
        let peers: PeerComparison.Plan?
        do {
            try await EnrolmentOutcomes.prepare(db, schools: evaluated, asOf: asOf, settings: settings)
            peers = try await PeerComparison.plan(db)
        } catch {
            if let opening { for connection in await opening.value { await connection.close() } }
            throw error
        }
        let opened: [PostgresConnection]
        if let opening {
            opened = await opening.value
        } else {
            opened = peers == nil ? [] : await openHelpers().value
        }
        let readers = try await helpers(of: db, opened: opened)
        let (settings, pageSize) = (self.settings, pupilsPerPage)
        var found: ResultsPass.Found
        if let reader = readers.first {
            // The pass on the other connections, on this transaction's snapshot, while this one
            // raises the flags that need no outcome, and their alerts, and finds the value added.
            async let beside = { () async throws -> (ResultsPass.Found, Duration) in
                let started = ContinuousClock.now
                let found = try await ResultsPass.run(
                    reader, helpers: Array(readers.dropFirst()), schools: evaluated, peers: peers, asOf: asOf, settings: settings,
                    pageSize: pageSize)
                return (found, ContinuousClock.now - started)
            }()
            let took: Duration
            do {
                try await flagsFromRecords()
                try await findValueAdded()
                onStep?("\(Self.stepNames[3]) (4 of \(Self.stepNames.count))")
                (found, took) = try await beside
            } catch {
                _ = try? await beside
                for reader in readers { await reader.close() }
                throw error
            }
            for reader in readers { await reader.close() }
            timings.append(("\(Self.stepNames[3]) beside the flags", took))
        } else {
            try await flagsFromRecords()
            try await findValueAdded()
            begin(3)
            found = try await ResultsPass.run(
                db, schools: evaluated, peers: peers, asOf: asOf, settings: settings, pageSize: pupilsPerPage)
        }
        begin(4)
        if let peers { try await PeerComparison.store(db, peers, taking: &found.gains) }
        try await EnrolmentOutcomes.record(db, runID: runID, valueAdded: valueAdded)
        try await scope.carryOverOutcomes(db, runID: runID)
        begin(5)
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
        begin(6)
        summary.flags.merge(
            try await Flags.raiseFromOutcomes(db, runID: runID, covering: schoolID, evaluated: evaluated, asOf: asOf, settings: settings),
            uniquingKeysWith: +)
        summary.flags[StallDetection.rule, default: 0] += try await StallDetection.record(db, found.stalls, runID: runID, asOf: asOf)
        begin(nil)
        try await followUp(on: .allBut(Flags.fromRecords), part: "outcomes")
        summary.steps = timings
        summary.stallNotJudged = try await scope.record(db, runID: runID, stallsNotJudged: found.stalls.cannotJudge)
        try await db.execute("UPDATE evaluation_runs SET stall_not_judged = $2 WHERE id = $1", runID, summary.stallNotJudged)
        try await db.execute("UPDATE evaluation_runs SET finished_at = now(), status = 'succeeded' WHERE id = $1", runID)
        return summary
    }

    /// Waits until no other evaluation of `school` (an id), or of any school when nil, is
    /// running, and keeps them from starting until this transaction ends.
    ///
    /// Two evaluations of one school at once (a trust run and a school's run, which the
    /// daemon's two workers can start together) would both open the school's new alerts:
    /// the second to commit failed on `alerts_one_open` and was retried a minute later.
    /// One after the other, the second finds the first's alerts, and often the school
    /// already evaluated. Schools are locked in id order, so two runs never wait for each
    /// other; nothing else takes these locks, and the run has written nothing before it
    /// waits for them.
    private static func waitForOtherEvaluations(_ db: PostgresConnection, of school: Int64?) async throws {
        _ = try await db.query(
            """
            SELECT count(pg_advisory_xact_lock($1, (s.id % 2147483647)::int)) AS locked
              FROM (SELECT id FROM schools WHERE $2::bigint IS NULL OR id = $2::bigint ORDER BY id) s
            """, schoolLockClass, school)
    }

    /// Advisory-lock class of "a school is being evaluated".
    static let schoolLockClass: Int32 = 0x4556_414C

    /// Up to ``helperCount`` connections from `openHelper`; fewer, or none, when they cannot
    /// be had (the server's connection limit, say): the pages are then read on fewer.
    private func openHelpers() -> Task<[PostgresConnection], Never> {
        Task { [openHelper] in
            guard let openHelper else { return [] }
            var opened: [PostgresConnection] = []
            for _ in 0..<Self.helperCount {
                guard let connection = try? await openHelper() else { break }
                opened.append(connection)
            }
            return opened
        }
    }

    /// The `opened` connections in read-only transactions on `db`'s snapshot, which see
    /// exactly what the evaluation sees, to read the pass beside it; one that cannot join the
    /// snapshot is closed, and the rest with it.
    private func helpers(of db: PostgresConnection, opened: [PostgresConnection]) async throws -> [PostgresConnection] {
        guard !opened.isEmpty else { return [] }
        let snapshot: String
        do {
            snapshot = try await db.query("SELECT pg_export_snapshot() AS snapshot").scalar(as: String.self)
        } catch {
            for connection in opened { await connection.close() }
            throw error
        }
        var helpers: [PostgresConnection] = []
        for (index, connection) in opened.enumerated() {
            do {
                try await SharedSnapshot.join(connection, snapshot: snapshot)
                helpers.append(connection)
            } catch {
                for unused in opened[index...] { await unused.close() }
                break
            }
        }
        return helpers
    }

    /// Connections reading the pass: two cores' worth, while the main connection's flags
    /// take little of either.
    static let helperCount = 2
}

/// Why an evaluation could not run.
public struct EvaluationError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
