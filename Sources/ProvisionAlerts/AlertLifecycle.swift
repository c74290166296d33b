import Postgres

/// What one evaluation did to the alerts.
public struct AlertChanges: Sendable, Equatable {
    public var opened = 0
    public var kept = 0
    public var resolved = 0
    /// Digest messages written to the outbox for the new alerts.
    public var messagesQueued = 0

    public init(opened: Int = 0, kept: Int = 0, resolved: Int = 0) {
        self.opened = opened
        self.kept = kept
        self.resolved = resolved
    }

    /// Compares the alert counts only.
    public static func == (lhs: AlertChanges, rhs: AlertChanges) -> Bool {
        (lhs.opened, lhs.kept, lhs.resolved) == (rhs.opened, rhs.kept, rhs.resolved)
    }
}

/// Turns an evaluation run's flags into alerts (DESIGN §7): an alert is keyed by (rule,
/// school, subject), opened when its flag first appears, kept while the flag persists, and
/// resolved when it goes. Runs inside the evaluation's transaction, so alerts always match
/// a committed evaluation, and a re-evaluation never duplicates an alert.
public enum AlertLifecycle {
    /// Applies run `runID`'s flags. A school evaluation touches only that school's alerts.
    public static func apply(_ db: PostgresConnection, runID: Int64) async throws -> AlertChanges {
        var changes = AlertChanges()
        let scope = "(r.school_id IS NULL OR a.school_id = r.school_id)"
        changes.kept = try await db.execute(
            """
            UPDATE alerts a SET last_seen_at = now(), reason = f.reason, numbers = f.numbers, priority = f.priority
              FROM evaluation_flags f
             WHERE f.evaluation_run_id = $1 AND a.status = 'open' AND a.rule = f.rule
               AND a.school_id = f.school_id AND a.subject_key = f.subject_key
            """, runID)
        changes.resolved = try await db.execute(
            """
            UPDATE alerts a SET status = 'resolved', resolved_at = now()
              FROM evaluation_runs r
             WHERE r.id = $1 AND a.status = 'open' AND \(scope)
               AND NOT EXISTS (SELECT 1 FROM evaluation_flags f WHERE f.evaluation_run_id = $1 AND f.rule = a.rule
                                 AND f.school_id = a.school_id AND f.subject_key = a.subject_key)
            """, runID)
        changes.opened = try await db.execute(
            """
            INSERT INTO alerts (rule, school_id, subject_key, pupil_id, provision_id, priority, reason, numbers)
            SELECT f.rule, f.school_id, f.subject_key, f.pupil_id, f.provision_id, f.priority, f.reason, f.numbers
              FROM evaluation_flags f
             WHERE f.evaluation_run_id = $1
               AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.status = 'open' AND a.rule = f.rule
                                 AND a.school_id = f.school_id AND a.subject_key = f.subject_key)
            """, runID)
        return changes
    }
}
