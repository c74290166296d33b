import Foundation
import Postgres
import ProvisionModel

/// What a job does. The payload of each kind is a flat object of strings.
public enum JobKind: String, Sendable, CaseIterable {
    /// Import one source: payload `source`, `schools` (comma-separated URNs) and `reason`.
    case importSource = "import"
    /// Evaluate one school (and queue its digests): payload `school`.
    case evaluate
}

extension JobKind {
    /// The unique key that keeps one import of a source waiting and one running at a time.
    public static func importKey(source: String) -> String { "import:\(source)" }

    /// The unique key of a school's evaluation, or of the trust-wide one (`school` nil).
    public static func evaluationKey(school: String?) -> String { "evaluate:\(school ?? "trust")" }
}

/// A job a worker has claimed.
public struct ClaimedJob: Sendable, Equatable {
    /// The job's row id.
    public let id: Int64
    /// What the job does.
    public let kind: JobKind
    /// Its parameters (`source`, `school`, `scope`).
    public let payload: [String: String]
    /// The key that keeps duplicates out, if it has one.
    public let uniqueKey: String?
    /// 1 on the first run.
    public let attempt: Int
    /// Attempts allowed before it is marked failed.
    public let maxAttempts: Int
}

extension ClaimedJob {
    /// A row returned by a claim (``JobQueue/claiming(where:pick:)``), its kind read already.
    fileprivate init(_ row: PostgresRow, kind: JobKind) throws {
        self.init(
            id: try row.decode("id"), kind: kind, payload: JobQueue.payload(try row.decode("payload", as: String.self)),
            uniqueKey: try row.decode("unique_key"), attempt: try row.decode("attempt"), maxAttempts: try row.decode("max_attempts"))
    }
}

/// What became of a job that failed.
public enum JobFailureOutcome: Sendable, Equatable {
    /// It will run again at this time, `after` the backoff chosen for it (the wait to report:
    /// the time left until `at` shrinks with every moment spent before it is read).
    case retrying(at: Date, after: Duration)
    /// It has used its attempts and is marked failed.
    case failed
    /// Someone else owns the job now (it was rescued while we ran it): nothing was changed.
    case notOurs
    /// A job with the same key is already waiting and will do the work: this one was discarded.
    case superseded
}

/// The job queue (DESIGN §2): jobs are rows of `jobs`, claimed with `FOR UPDATE SKIP LOCKED`
/// so any number of workers in any number of daemons take each job once, retried with
/// exponential backoff, and rescued when the worker holding them is gone.
///
/// Every change a worker makes to a job it claimed names the job, the worker and the
/// attempt, so a worker that was presumed dead (and its job rescued) cannot overwrite what
/// happened since.
public struct JobQueue: Sendable {
    /// The NOTIFY channel that wakes idle workers when a job is queued.
    public static let channel = "provision_jobs"
    /// Workers name their control connection with this prefix and their id, which is how a
    /// rescuer tells a live worker from a dead one.
    public static let applicationNamePrefix = "provisiond "

    /// The wait after the first failure; each further one is twice as long.
    public var retryBase: Duration
    /// The longest wait between attempts.
    public var retryMax: Duration

    /// A queue with the given retry policy (the daemon's defaults: one minute, one hour).
    public init(retryBase: Duration = .seconds(60), retryMax: Duration = .seconds(3600)) {
        self.retryBase = retryBase
        self.retryMax = retryMax
    }

    /// Queues a job and wakes the workers. Returns the job's id, or nil when an identical
    /// job (same `uniqueKey`) is already waiting, so nothing was added.
    @discardableResult
    public func enqueue(
        _ db: PostgresConnection, kind: JobKind, payload: [String: String], uniqueKey: String?,
        maxAttempts: Int, runAt: Date? = nil
    ) async throws -> Int64? {
        let json = JSONValue.object(payload.mapValues { .string($0) }).serialized
        let result = try await db.query(
            """
            INSERT INTO jobs (kind, payload, unique_key, max_attempts, run_at)
            VALUES ($1, $2::jsonb, $3, $4, coalesce(to_timestamp($5::float8), now()))
            ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL AND state = 'available' DO NOTHING
            RETURNING id
            """, kind.rawValue, json, uniqueKey, maxAttempts, runAt?.timeIntervalSince1970)
        guard let row = try result.singleRow() else { return nil }
        try await db.notify(Self.channel, payload: kind.rawValue)
        return try row.decode("id", as: Int64.self)
    }

    /// Queues an import of `source`, bound to `schools`, for `reason` (`schedule`, `watch`,
    /// `provisionctl`): under the source's unique key (``JobKind/importKey(source:)``), with
    /// the schools in its payload, which keep two imports of one school from running at once
    /// (``claim(_:worker:)``). Returns the job's id, or nil when one is already waiting.
    @discardableResult
    public func enqueueImport(
        _ db: PostgresConnection, source: String, schools: [String], reason: String, maxAttempts: Int
    ) async throws -> Int64? {
        try await enqueue(
            db, kind: .importSource, payload: ["source": source, "schools": schools.joined(separator: ","), "reason": reason],
            uniqueKey: JobKind.importKey(source: source), maxAttempts: maxAttempts)
    }

    /// Claims the next due job for `worker`, or nil when none is due. A job whose unique
    /// key is held by a running job waits for it to end, and so does an import of a school
    /// another running import is bound to.
    ///
    /// A school's sources depend on each other: its marksheets and provision map name the
    /// pupils its CTF stores. Run side by side on a trust's first night, the marksheets
    /// reached their merge before the CTF had stored a pupil, every result was rejected, and
    /// the run was refused and retried after its backoff (the trust's import took 53 s rather
    /// than 25 s in `benchmarks/evaluate.sh`). Waiting, they run once the CTF is in, while
    /// the other workers import other schools; the sources of one school run in the order
    /// they were queued. Claims are taken one at a time (a transaction's advisory lock), so
    /// two workers cannot both start imports of one school, each before seeing the other's.
    public func claim(_ db: PostgresConnection, worker: String) async throws -> ClaimedJob? {
        let result: PostgresResult
        do {
            result = try await db.transaction { db in
                try db.query("SELECT pg_advisory_xact_lock($1, 0)", Self.claimLockClass)
                return try db.query(
                    Self.claiming(where: Self.noOtherImportOfItsSchools, pick: "ORDER BY j.run_at, j.id LIMIT 1"), worker)
            }
        } catch let error as PostgresError where error.sqlState == SQLState.uniqueViolation {
            // Another worker started a job with the same key a moment ago; this one waits.
            return nil
        }
        guard let row = try result.singleRow() else { return nil }
        let id = try row.decode("id", as: Int64.self)
        let kindName = try row.decode("kind", as: String.self)
        guard let kind = JobKind(rawValue: kindName) else {
            try await db.execute(
                "UPDATE jobs SET state = 'discarded', finished_at = now(), last_error = $2 WHERE id = $1",
                id, "unknown job kind '\(kindName)'")
            return nil
        }
        return try ClaimedJob(row, kind: kind)
    }

    /// Claims, for `worker`, every evaluation of a school that is due and that no worker
    /// holds, other than `job`: one trust-wide evaluation can then do their work at once
    /// (when a night's imports end, each school's evaluation is due together). They are the
    /// worker's until it completes or releases them, and its heartbeat renews them with `job`.
    public func claimDueSchoolEvaluations(
        _ db: PostgresConnection, worker: String, besides job: ClaimedJob
    ) async throws -> [ClaimedJob] {
        let result: PostgresResult
        do {
            result = try await db.query(
                Self.claiming(where: "j.kind = $3 AND j.payload ? 'school' AND j.id <> $2"), worker, job.id, JobKind.evaluate.rawValue)
        } catch let error as PostgresError where error.sqlState == SQLState.uniqueViolation {
            // Another worker started one of them a moment ago: the evaluation goes on alone.
            return []
        }
        return try result.rows.map { try ClaimedJob($0, kind: .evaluate) }
    }

    /// Advisory-lock class of "a worker is claiming a job".
    static let claimLockClass: Int32 = 0x5350_4A43

    /// True for a job `j` that is not an import, or an import bound to no school a running
    /// import is bound to. Imports are always queued with a unique key, so the running ones
    /// are read through the index of running keys. (A job queued before imports named their
    /// schools names none, and waits for nothing.)
    static let noOtherImportOfItsSchools = """
        (j.kind <> '\(JobKind.importSource.rawValue)' OR NOT EXISTS (
            SELECT 1 FROM jobs r
             WHERE r.state = 'running' AND r.unique_key IS NOT NULL AND r.kind = j.kind
               AND string_to_array(r.payload->>'schools', ',') && string_to_array(j.payload->>'schools', ',')))
        """

    /// The statement claiming for worker `$1` the jobs that are due, that no running job
    /// shares a unique key with, and that meet `condition`; `pick` orders and limits them.
    private static func claiming(where condition: String, pick: String = "") -> String {
        """
        UPDATE jobs SET state = 'running', attempt = attempt + 1, locked_by = $1,
               locked_at = now(), heartbeat_at = now()
        WHERE id IN (
            SELECT j.id FROM jobs j
            WHERE j.state = 'available' AND j.run_at <= now() AND \(condition)
              AND (j.unique_key IS NULL OR NOT EXISTS (
                    SELECT 1 FROM jobs r WHERE r.state = 'running' AND r.unique_key = j.unique_key))
            \(pick)
            FOR UPDATE SKIP LOCKED)
        RETURNING id, kind, payload::text AS payload, unique_key, attempt, max_attempts
        """
    }

    /// Marks a claimed job done. False when the job was no longer ours.
    @discardableResult
    public func complete(_ db: PostgresConnection, _ job: ClaimedJob, worker: String) async throws -> Bool {
        try await db.execute(
            """
            UPDATE jobs SET state = 'completed', finished_at = now(), last_error = NULL
            WHERE id = $1 AND state = 'running' AND locked_by = $2 AND attempt = $3
            """, job.id, worker, job.attempt) == 1
    }

    /// Records a failed attempt: the job runs again after a backoff, or is marked failed when
    /// it has used its attempts.
    public func fail(
        _ db: PostgresConnection, _ job: ClaimedJob, worker: String, error: String
    ) async throws -> JobFailureOutcome {
        let finalAttempt = job.attempt >= job.maxAttempts
        let wait = backoff(afterAttempt: job.attempt)
        let retryAt = Date().addingTimeInterval(wait.seconds)
        let result = try await Self.retryingOnceOnConflict {
            try await db.query(
                """
                UPDATE jobs SET state = CASE WHEN $4 THEN 'failed' WHEN \(Self.superseded) THEN 'discarded' ELSE 'available' END,
                       run_at = CASE WHEN $4 THEN run_at ELSE to_timestamp($5::float8) END,
                       finished_at = CASE WHEN $4 OR \(Self.superseded) THEN now() END,
                       locked_by = NULL, last_error = $6
                WHERE id = $1 AND state = 'running' AND locked_by = $2 AND attempt = $3
                RETURNING state
                """, job.id, worker, job.attempt, finalAttempt, retryAt.timeIntervalSince1970, error)
        }
        guard let row = try result.singleRow() else { return .notOurs }
        switch try row.decode("state", as: String.self) {
        case "failed": return .failed
        case "discarded": return .superseded
        default: return .retrying(at: retryAt, after: wait)
        }
    }

    /// Puts a job back untouched because this worker is stopping: it runs again as soon as a
    /// worker is free, and the interrupted attempt does not count.
    public func release(_ db: PostgresConnection, _ job: ClaimedJob, worker: String, reason: String) async throws {
        _ = try await Self.retryingOnceOnConflict {
            try await db.execute(
                """
                UPDATE jobs SET state = CASE WHEN \(Self.superseded) THEN 'discarded' ELSE 'available' END,
                       finished_at = CASE WHEN \(Self.superseded) THEN now() END,
                       attempt = attempt - 1, locked_by = NULL, run_at = now(), last_error = $4
                WHERE id = $1 AND state = 'running' AND locked_by = $2 AND attempt = $3
                """, job.id, worker, job.attempt, reason)
        }
    }

    /// Puts a job back to run at `until` without counting the attempt: it was not the
    /// right moment (an evaluation waiting for its school's imports to finish).
    public func postpone(_ db: PostgresConnection, _ job: ClaimedJob, worker: String, until: Date) async throws {
        _ = try await Self.retryingOnceOnConflict {
            try await db.execute(
                """
                UPDATE jobs SET state = CASE WHEN \(Self.superseded) THEN 'discarded' ELSE 'available' END,
                       finished_at = CASE WHEN \(Self.superseded) THEN now() END,
                       attempt = attempt - 1, locked_by = NULL, run_at = to_timestamp($4::float8)
                WHERE id = $1 AND state = 'running' AND locked_by = $2 AND attempt = $3
                """, job.id, worker, job.attempt, until.timeIntervalSince1970)
        }
    }

    /// Marks a job that can never succeed (its source was removed from the configuration).
    public func discard(_ db: PostgresConnection, _ job: ClaimedJob, worker: String, reason: String) async throws {
        try await db.execute(
            """
            UPDATE jobs SET state = 'discarded', finished_at = now(), locked_by = NULL, last_error = $4
            WHERE id = $1 AND state = 'running' AND locked_by = $2 AND attempt = $3
            """, job.id, worker, job.attempt, reason)
    }

    /// Tells rescuers the job's worker is alive, for `job` and any other job the worker holds
    /// with it (``claimDueSchoolEvaluations(_:worker:besides:)``). False when `job` is no
    /// longer this worker's (it was rescued): the worker must stop it.
    @discardableResult
    public func heartbeat(_ db: PostgresConnection, _ job: ClaimedJob, worker: String) async throws -> Bool {
        try await db.query(
            """
            WITH renewed AS (UPDATE jobs SET heartbeat_at = now() WHERE state = 'running' AND locked_by = $2 RETURNING id, attempt)
            SELECT count(*) AS ours FROM renewed WHERE id = $1 AND attempt = $3
            """, job.id, worker, job.attempt
        ).scalar(as: Int.self) == 1
    }

    /// A job taken from a worker that died.
    public struct RescuedJob: Sendable, Equatable {
        /// The job's row id.
        public let id: Int64
        /// What the job does; nil for a kind this version does not know.
        public let kind: JobKind?
        /// Its parameters.
        public let payload: [String: String]
        /// The worker that held it.
        public let worker: String
        /// available (it will run again), failed (no attempts left) or discarded (a job
        /// with the same key is already waiting, which will do the same work).
        public let state: String
    }

    /// Takes back the running jobs whose worker is gone: its control connection no longer
    /// exists (the process died or lost the database), or it has not sent a heartbeat for
    /// `staleAfter` (the host vanished without closing its connections).
    ///
    /// A rescued job runs again; the attempt it was on counts.
    public func rescue(_ db: PostgresConnection, staleAfter: Duration) async throws -> [RescuedJob] {
        try await db.transaction { db in
            let result = try db.query(
                """
                WITH dead AS (
                    SELECT j.id, j.locked_by FROM jobs j
                    WHERE j.state = 'running'
                      AND (j.heartbeat_at < now() - make_interval(secs => $1)
                           OR NOT EXISTS (SELECT 1 FROM pg_stat_activity a
                                          WHERE a.datname = current_database()
                                            AND a.application_name = $2 || j.locked_by))
                    FOR UPDATE SKIP LOCKED
                )
                UPDATE jobs j SET
                    state = CASE
                        WHEN j.attempt >= j.max_attempts THEN 'failed'
                        WHEN j.unique_key IS NOT NULL AND EXISTS (
                            SELECT 1 FROM jobs w WHERE w.state = 'available' AND w.unique_key = j.unique_key)
                            THEN 'discarded'
                        ELSE 'available' END,
                    finished_at = CASE WHEN j.attempt >= j.max_attempts THEN now() END,
                    run_at = now(),
                    last_error = 'rescued: worker ' || j.locked_by || ' stopped while running it',
                    locked_by = NULL
                FROM dead WHERE j.id = dead.id
                RETURNING j.id, j.kind, j.payload::text AS payload, j.state, dead.locked_by AS worker
                """, staleAfter.seconds, Self.applicationNamePrefix)
            return try result.rows.map { row in
                let payloadText = try row.decode("payload", as: String.self)
                return RescuedJob(
                    id: try row.decode("id"), kind: JobKind(rawValue: try row.decode("kind", as: String.self)),
                    payload: Self.payload(payloadText),
                    worker: try row.decode("worker", as: String?.self) ?? "?", state: try row.decode("state"))
            }
        }
    }

    /// When the next job that is waiting becomes due, if any is waiting.
    public func nextRunAt(_ db: PostgresConnection) async throws -> Date? {
        let result = try await db.query(
            "SELECT extract(epoch FROM min(run_at))::float8 AS at FROM jobs WHERE state = 'available'")
        return try result.singleRow()?.decode("at", as: Double?.self).map { Date(timeIntervalSince1970: $0) }
    }

    /// True (in an UPDATE of `jobs`) when a job with the same key is already waiting: that
    /// one will do the same work, so this one is discarded rather than queued twice.
    static let superseded = """
        (jobs.unique_key IS NOT NULL AND EXISTS (
            SELECT 1 FROM jobs w WHERE w.state = 'available' AND w.unique_key = jobs.unique_key AND w.id <> jobs.id))
        """

    /// A job's payload as stored (`payload::text`): a flat object of strings.
    static func payload(_ text: String) -> [String: String] {
        (try? JSONValue.parse(Array(text.utf8)).objectValue)?.compactMapValues(\.stringValue) ?? [:]
    }

    /// Runs `statement` again once when a job with the same key was queued concurrently
    /// (the unique index noticed before `superseded` could): the second run sees it.
    static func retryingOnceOnConflict<T>(_ statement: () async throws -> T) async throws -> T {
        do {
            return try await statement()
        } catch let error as PostgresError where error.sqlState == SQLState.uniqueViolation {
            return try await statement()
        }
    }

    /// The wait before the retry that follows `attempt`: base × 2^(attempt−1), capped, less
    /// up to a fifth of it at random (``Backoff``) so jobs that failed together spread out.
    public func backoff(afterAttempt attempt: Int) -> Duration {
        let doublings = min(max(attempt - 1, 0), 30)
        let wait = retryBase.seconds * Double(1 << doublings)
        return .milliseconds(Int64(Backoff.jittered(min(wait, retryMax.seconds)) * 1000))
    }
}
