import Foundation
import Postgres

/// The record of import runs (`import_runs`) as the daemon and `provisionctl status` read
/// and close it; the pipeline writes the rest.
public enum ImportRuns {
    /// The latest run of a source, and when it last succeeded.
    public struct Latest: Sendable, Equatable {
        /// The run's id.
        public var id: Int64
        /// `running`, `succeeded`, `unchanged` or `failed`.
        public var status: String
        /// When it started.
        public var startedAt: Date
        /// When it ended; nil while it runs.
        public var finishedAt: Date?
        /// Why it failed, for a failed run.
        public var failure: String?
        /// When a run of the source last succeeded (or found its input unchanged).
        public var lastSuccessAt: Date?
    }

    /// Each source's latest run, by source name.
    public static func latest(_ db: PostgresConnection) async throws -> [String: Latest] {
        var latest: [String: Latest] = [:]
        for row in try await db.query(
            """
            SELECT DISTINCT ON (source) source, id, status, extract(epoch FROM started_at)::float8 AS started,
                   extract(epoch FROM finished_at)::float8 AS finished, failure,
                   (SELECT extract(epoch FROM max(finished_at))::float8 FROM import_runs s
                     WHERE s.source = r.source AND s.status IN ('succeeded', 'unchanged')) AS last_success
              FROM import_runs r ORDER BY source, id DESC
            """
        ).rows {
            latest[try row.decode("source")] = Latest(
                id: try row.decode("id"), status: try row.decode("status"),
                startedAt: Date(timeIntervalSince1970: try row.decode("started")),
                finishedAt: try row.decode("finished", as: Double?.self).map(Date.init(timeIntervalSince1970:)),
                failure: try row.decode("failure"),
                lastSuccessAt: try row.decode("last_success", as: Double?.self).map(Date.init(timeIntervalSince1970:)))
        }
        return latest
    }

    /// Marks the runs of `source` left `running` by a supervisor that died or lost the
    /// database as failed: their transaction was rolled back, so they wrote nothing, and
    /// their record now says so.
    public static func closeInterrupted(_ db: PostgresConnection, source: String, reason: String) async throws {
        try await db.execute(
            """
            UPDATE import_runs SET status = 'failed', finished_at = now(), failure = $2
             WHERE source = $1 AND status = 'running'
            """, source, reason)
    }

    /// Deletes the rejected-record lists of runs that started more than `days` days ago
    /// (`[retention] rejected_records_days`; 0 keeps them all), except each source's latest
    /// run that read its input (a later run that found it unchanged has the same problems).
    /// Returns how many records were deleted; the runs themselves, with their counts and
    /// first reasons, stay.
    public static func pruneRejections(_ db: PostgresConnection, olderThanDays days: Int) async throws -> Int {
        guard days > 0 else { return 0 }
        return try await db.execute(
            """
            DELETE FROM rejected_records r USING import_runs i
             WHERE i.id = r.import_run_id AND i.started_at < now() - make_interval(days => $1)
               AND i.id NOT IN (SELECT DISTINCT ON (source) id FROM import_runs
                                 WHERE status <> 'unchanged' ORDER BY source, id DESC)
            """, days)
    }
}
