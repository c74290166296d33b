import Postgres

/// Old evaluation runs, deleted once nothing reads them.
///
/// Every run stores the whole picture of what it covers (an unchanged school's flags and
/// outcomes are copied into it), so a trust evaluated nightly adds its every flag each night:
/// after 66 runs of the 60,000-pupil benchmark trust its flags took 149 MB, more than its
/// 620,000 results. Nothing reads a run but the latest: the console, the reports, the
/// digests and the next evaluation's carry-over read the latest run of the trust or the
/// latest that covered a school, and alerts and review decisions keep their own copy of
/// what a run said.
///
/// A run is deleted, with its flags and outcomes, when it started more than `keepDays` days
/// ago and is neither the latest successful run of the trust nor the latest of any school.
/// A trust run covers every school with data, so the latest run that covered a school (whose
/// results the next evaluation may reuse) is one of those two. An evaluation locks the runs
/// it reuses (``SchoolScope``), so a deletion waits for it.
public enum EvaluationHistory {
    /// What a pruning deleted.
    public struct Pruned: Sendable, Equatable {
        /// Runs deleted.
        public var runs = 0
        /// Their flags.
        public var flags = 0
        /// Their enrolment outcomes.
        public var enrolmentOutcomes = 0

        /// Counts of a pruning (nothing, by default).
        public init(runs: Int = 0, flags: Int = 0, enrolmentOutcomes: Int = 0) {
            self.runs = runs
            self.flags = flags
            self.enrolmentOutcomes = enrolmentOutcomes
        }
    }

    /// Deletes the runs older than `keepDays` days that nothing reads; `keepDays` 0 keeps
    /// every run. Runs one transaction per `batchSize` runs on `db`, which must not be in
    /// one: a night's evaluations at a time, so each transaction stays short and a failure
    /// keeps what was already done.
    public static func prune(_ db: PostgresConnection, keepDays: Int, batchSize: Int = 20) async throws -> Pruned {
        var pruned = Pruned()
        guard keepDays > 0 else { return pruned }
        while true {
            let batch = try await db.query(
                """
                WITH latest (id) AS (
                    SELECT max(id) FROM evaluation_runs WHERE status = 'succeeded' GROUP BY school_id)
                SELECT r.id FROM evaluation_runs r
                 WHERE r.started_at < now() - make_interval(days => $1)
                   AND r.status <> 'running'
                   AND r.id NOT IN (SELECT id FROM latest)
                 ORDER BY r.id LIMIT $2
                """, keepDays, batchSize
            ).rows.map { try $0.decode("id", as: Int64.self) }
            guard !batch.isEmpty else { return pruned }
            let ids = batch.map(String.init)
            let (deleted, flags, outcomes) = try await db.transaction { db in
                guard let counted = try db.query(
                    """
                    SELECT (SELECT count(*) FROM evaluation_flags WHERE evaluation_run_id = ANY($1::bigint[])) AS flags,
                           (SELECT count(*) FROM enrolment_outcomes WHERE evaluation_run_id = ANY($1::bigint[])) AS outcomes
                    """, [ids]
                ).singleRow() else { throw EvaluationError("the runs to delete could not be counted") }
                // Flags, outcomes and the run's schools go with the run (its foreign keys and
                // triggers); a run reused meanwhile is locked by that evaluation, so this waits.
                let deleted = try db.execute("DELETE FROM evaluation_runs WHERE id = ANY($1::bigint[])", [ids])
                return (deleted, try counted.decode("flags", as: Int.self), try counted.decode("outcomes", as: Int.self))
            }
            pruned.runs += deleted
            pruned.flags += flags
            pruned.enrolmentOutcomes += outcomes
            if batch.count < batchSize { return pruned }
        }
    }
}
