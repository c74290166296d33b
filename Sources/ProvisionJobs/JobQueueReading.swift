import Foundation
import Postgres

/// How many jobs are in each state: what `/healthz`, `/metrics` and `provisionctl status`
/// show of the queue.
public struct JobCounts: Sendable, Equatable {
    /// Jobs a worker is running.
    public var running = 0
    /// Available and due now.
    public var due = 0
    /// Available, due now or later.
    public var available = 0
    /// Jobs that used their attempts.
    public var failed = 0
    /// How long the oldest due job has waited, in seconds (0 when none waits).
    public var lagSeconds = 0.0

    /// An empty queue.
    public init() {}
}

/// One job as `provisionctl status` lists it.
public struct JobListing: Sendable, Equatable {
    /// The job's row id.
    public var id: Int64
    /// `import` or `evaluate`.
    public var kind: String
    /// `running`, `available` or `failed`.
    public var state: String
    /// The source or school the job is about.
    public var subject: String
    /// The attempt running or last run (0 before the first).
    public var attempt: Int
    /// Attempts allowed.
    public var maxAttempts: Int
    /// The worker holding it, while it runs.
    public var worker: String?
    /// When it was claimed (running) or finished (failed).
    public var since: Date?
    /// When it is due (or was, for one that ran).
    public var runAt: Date
    /// The error of its last failed attempt.
    public var lastError: String?
}

extension JobQueue {
    /// The queue's counts, read in one statement so they agree with each other.
    public static func counts(_ db: PostgresConnection) async throws -> JobCounts {
        guard let row = try await db.query(
            """
            SELECT count(*) FILTER (WHERE state = 'running') AS running,
                   count(*) FILTER (WHERE state = 'available' AND run_at <= now()) AS due,
                   count(*) FILTER (WHERE state = 'available') AS available,
                   count(*) FILTER (WHERE state = 'failed') AS failed,
                   coalesce(extract(epoch FROM now() - min(run_at) FILTER (WHERE state = 'available' AND run_at <= now())), 0)::float8
                     AS lag
              FROM jobs
            """
        ).singleRow() else { return JobCounts() }
        var counts = JobCounts()
        counts.running = try row.decode("running")
        counts.due = try row.decode("due")
        counts.available = try row.decode("available")
        counts.failed = try row.decode("failed")
        counts.lagSeconds = try row.decode("lag")
        return counts
    }

    /// Running and waiting jobs, and those that failed in the last `failedWithinDays` days,
    /// by state and time.
    public static func listing(_ db: PostgresConnection, failedWithinDays: Int) async throws -> [JobListing] {
        try await db.query(
            """
            SELECT id, kind, state, coalesce(payload->>'source', payload->>'school', '') AS subject, attempt, max_attempts,
                   locked_by, extract(epoch FROM coalesce(locked_at, finished_at))::float8 AS since,
                   extract(epoch FROM run_at)::float8 AS run_at, last_error
              FROM jobs
             WHERE state IN ('running', 'available')
                OR (state = 'failed' AND finished_at > now() - make_interval(days => $1))
             ORDER BY state, run_at, id
            """, failedWithinDays
        ).rows.map { row in
            JobListing(
                id: try row.decode("id"), kind: try row.decode("kind"), state: try row.decode("state"),
                subject: try row.decode("subject"), attempt: try row.decode("attempt"), maxAttempts: try row.decode("max_attempts"),
                worker: try row.decode("locked_by"), since: try row.decode("since", as: Double?.self).map(Date.init(timeIntervalSince1970:)),
                runAt: Date(timeIntervalSince1970: try row.decode("run_at")), lastError: try row.decode("last_error"))
        }
    }

    /// Imports of `sources` running or due now: a school's evaluation waits for them.
    public static func importsPending(_ db: PostgresConnection, sources: [String]) async throws -> Int {
        try await db.query(
            """
            SELECT count(*) AS busy FROM jobs
             WHERE kind = 'import' AND payload->>'source' = ANY($1::text[])
               AND (state = 'running' OR (state = 'available' AND run_at <= now()))
            """, sources
        ).scalar(as: Int.self)
    }
}
