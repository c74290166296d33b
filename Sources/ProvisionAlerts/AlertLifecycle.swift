import Postgres

/// What one evaluation did to the alerts.
public struct AlertChanges: Sendable, Equatable {
    /// Alerts opened for flags that had none.
    public var opened = 0
    /// Open alerts whose flag is still raised.
    public var kept = 0
    /// Open alerts resolved because their flag is no longer raised.
    public var resolved = 0
    /// Dismissed alerts opened again because their figures got worse.
    public var reopened = 0
    /// Snoozed alerts whose date passed: back, and mailed again.
    public var snoozesEnded = 0
    /// Digest messages written to the outbox for the new alerts.
    public var messagesQueued = 0

    /// Changes with the given counts (zero by default).
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
///
/// People's answers (``AlertAnswers``) are honoured here: a snoozed alert whose date has
/// passed comes back (and is mailed again); a dismissed alert stays closed while its flag
/// persists with figures no worse than when it was dismissed, and a new alert, saying why,
/// opens when they get worse.
public enum AlertLifecycle {
    /// Each flag's strength, comparable between evaluations: how strong the evidence of a
    /// stall is, how far below zero an intervention's value added (or effect) is, how many
    /// overlapping interventions there are. Nil where a rule has no such figure.
    static let evidence = """
        CASE f.rule
             WHEN 'stalled_pupil' THEN (f.numbers->>'evidence')::float8
             WHEN 'ineffective_intervention' THEN -coalesce((f.numbers->>'value_added')::float8, (f.numbers->>'effect')::float8)
             WHEN 'duplicated_provision' THEN jsonb_array_length(f.numbers->'provisions')::float8
        END
        """

    /// Applies run `runID`'s flags. A school evaluation touches only that school's alerts.
    public static func apply(_ db: PostgresConnection, runID: Int64) async throws -> AlertChanges {
        var changes = AlertChanges()
        let scope = "(r.school_id IS NULL OR a.school_id = r.school_id)"
        changes.snoozesEnded = try await db.execute(
            """
            WITH ended AS (
                UPDATE alerts a SET answer = NULL, snoozed_until = NULL, notified_at = NULL
                  FROM evaluation_runs r
                 WHERE r.id = $1 AND \(scope) AND a.status = 'open' AND a.answer = 'snoozed' AND a.snoozed_until <= r.as_of
                RETURNING a.id)
            INSERT INTO alert_actions (alert_id, action, by_whom, note)
            SELECT id, 'snooze_ended', 'SEND Provision', 'The snooze date has passed.' FROM ended
            """, runID)
        // Only alerts whose wording or figures changed are written: rewriting every open alert
        // of a school that nothing changed in was a third of its evaluation after a nightly
        // import. (An open alert was seen by its school's latest evaluation, so `last_seen_at`
        // says when it last changed.)
        changes.kept = try await db.query(
            """
            WITH seen AS (
                SELECT a.id, f.reason, f.numbers, f.priority, \(evidence) AS evidence,
                       (a.reason, a.numbers, a.priority, a.evidence) IS DISTINCT FROM (f.reason, f.numbers, f.priority, \(evidence)) AS changed
                  FROM alerts a JOIN evaluation_flags f ON a.rule = f.rule AND a.school_id = f.school_id AND a.subject_key = f.subject_key
                 WHERE f.evaluation_run_id = $1 AND a.status IN ('open', 'dismissed')),
                 updated AS (
                UPDATE alerts a SET last_seen_at = now(), reason = s.reason, numbers = s.numbers, priority = s.priority,
                                    evidence = s.evidence
                  FROM seen s WHERE a.id = s.id AND s.changed)
            SELECT count(*) FROM seen
            """, runID
        ).scalar(as: Int.self)
        changes.resolved = try await db.execute(
            """
            UPDATE alerts SET status = 'resolved', resolved_at = now()
             WHERE id IN (
                   SELECT a.id FROM alerts a JOIN evaluation_runs r ON r.id = $1
                    WHERE a.status IN ('open', 'dismissed') AND \(scope)
                   EXCEPT
                   -- A set difference, not NOT EXISTS: the run's flags are too new to have
                   -- statistics, and an anti join planned for one flag compared every alert
                   -- with every flag (2.7 s at 8,700 alerts).
                   SELECT a.id FROM alerts a JOIN evaluation_flags f ON f.evaluation_run_id = $1 AND f.rule = a.rule
                      AND f.school_id = a.school_id AND f.subject_key = a.subject_key
                    WHERE a.status IN ('open', 'dismissed'))
            """, runID)
        // A dismissed alert whose figures are now worse than when it was dismissed: a new
        // alert opens, saying so, and the dismissed one is closed for good.
        let worse = try await db.query(
            """
            WITH worse AS (
                UPDATE alerts a SET status = 'resolved', resolved_at = now()
                  FROM evaluation_flags f
                 WHERE f.evaluation_run_id = $1 AND a.status = 'dismissed' AND a.rule = f.rule
                   AND a.school_id = f.school_id AND a.subject_key = f.subject_key
                   AND a.dismissed_evidence IS NOT NULL AND a.evidence > a.dismissed_evidence + 0.01 * abs(a.dismissed_evidence) + 1e-9
                   AND NOT EXISTS (SELECT 1 FROM alerts o WHERE o.status = 'open' AND o.rule = a.rule
                                     AND o.school_id = a.school_id AND o.subject_key = a.subject_key)
                RETURNING a.id, a.rule, a.school_id, a.subject_key, a.dismissed_evidence),
            reopened AS (
                INSERT INTO alerts (rule, school_id, subject_key, pupil_id, provision_id, priority, reason, numbers, evidence, reopened_from)
                SELECT f.rule, f.school_id, f.subject_key, f.pupil_id, f.provision_id, f.priority,
                       'Reopened: the figures are worse than when this was dismissed. ' || f.reason, f.numbers, \(evidence), w.id
                  FROM worse w JOIN evaluation_flags f ON f.evaluation_run_id = $1 AND f.rule = w.rule
                   AND f.school_id = w.school_id AND f.subject_key = w.subject_key
                RETURNING id, reopened_from)
            INSERT INTO alert_actions (alert_id, action, by_whom, note)
            SELECT id, 'reopened', 'SEND Provision', 'Opened again after alert ' || reopened_from || ' was dismissed: the figures got worse.'
              FROM reopened RETURNING 1
            """, runID)
        changes.reopened = worse.rows.count
        changes.opened = try await db.execute(
            """
            INSERT INTO alerts (rule, school_id, subject_key, pupil_id, provision_id, priority, reason, numbers, evidence)
            SELECT f.rule, f.school_id, f.subject_key, f.pupil_id, f.provision_id, f.priority, f.reason, f.numbers, \(evidence)
              FROM evaluation_flags f
             WHERE f.evaluation_run_id = $1
               AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.status IN ('open', 'dismissed') AND a.rule = f.rule
                                 AND a.school_id = f.school_id AND a.subject_key = f.subject_key)
            """, runID) + changes.reopened
        return changes
    }
}
