import Postgres
import ProvisionEvaluation

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

    /// Adds the counts of `other` (another part of the same run's rules) to these.
    public mutating func add(_ other: AlertChanges) {
        opened += other.opened
        kept += other.kept
        resolved += other.resolved
        reopened += other.reopened
        snoozesEnded += other.snoozesEnded
        messagesQueued += other.messagesQueued
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

    /// Applies run `runID`'s flags of the `rules` selected to those rules' alerts. A school
    /// evaluation touches only that school's alerts. An alert pairs only with flags of its own
    /// rule, so applying a run's rules in parts (``FlagFollowUp``) comes to the same as
    /// applying them at once.
    public static func apply(_ db: PostgresConnection, runID: Int64, rules: RuleSelection = .all) async throws -> AlertChanges {
        var changes = AlertChanges()
        let scope = "(r.school_id IS NULL OR a.school_id = r.school_id)"
        let ruleNames = rules.names
        let alertRule = rules.condition(on: "a.rule", parameter: 2), flagRule = rules.condition(on: "f.rule", parameter: 2)
        changes.snoozesEnded = try await db.execute(
            """
            WITH ended AS (
                UPDATE alerts a SET answer = NULL, snoozed_until = NULL, notified_at = NULL
                  FROM evaluation_runs r
                 WHERE r.id = $1 AND \(scope) AND \(alertRule) AND a.status = 'open' AND a.answer = 'snoozed'
                   AND a.snoozed_until <= r.as_of
                RETURNING a.id)
            INSERT INTO alert_actions (alert_id, action, by_whom, note)
            SELECT id, 'snooze_ended', 'SEND Provision', 'The snooze date has passed.' FROM ended
            """, runID, ruleNames)
        // One pass pairs the run's flags with the live alerts (a full join, so hashed: the
        // run's flags are too new to have statistics, and the three statements this replaces
        // probed an index once per flag or alert, 130 ms of an unchanged school's 23,800).
        // Only alerts whose wording or figures changed are written: rewriting every open alert
        // of a school that nothing changed in was a third of its evaluation after a nightly
        // import. (An open alert was seen by its school's latest evaluation, so `last_seen_at`
        // says when it last changed.) Only alerts in the run's scope are resolved; a flag
        // finds its alert in any school.
        let paired = try await db.query(
            """
            WITH raised AS (
                SELECT f.rule, f.school_id, f.subject_key, f.pupil_id, f.provision_id, f.priority, f.reason, f.numbers,
                       \(evidence) AS evidence
                  FROM evaluation_flags f WHERE f.evaluation_run_id = $1 AND \(flagRule)),
            live AS (
                SELECT a.id, a.status, a.rule, a.school_id, a.subject_key, a.reason, a.numbers, a.priority, a.evidence,
                       \(scope) AS in_scope
                  FROM alerts a JOIN evaluation_runs r ON r.id = $1
                 WHERE a.status IN ('open', 'dismissed') AND \(alertRule)
                   AND (\(scope) OR a.school_id IN (SELECT DISTINCT school_id FROM raised))),
            paired AS MATERIALIZED (
                SELECT a.id AS alert_id, a.status, a.in_scope, f.rule IS NOT NULL AS flagged,
                       f.rule, f.school_id, f.subject_key, f.pupil_id, f.provision_id, f.priority, f.reason, f.numbers, f.evidence,
                       (a.reason, a.numbers, a.priority, a.evidence) IS DISTINCT FROM (f.reason, f.numbers, f.priority, f.evidence)
                           AS changed
                  FROM live a FULL JOIN raised f ON a.rule = f.rule AND a.school_id = f.school_id AND a.subject_key = f.subject_key),
            kept AS (
                UPDATE alerts a SET last_seen_at = now(), reason = p.reason, numbers = p.numbers, priority = p.priority,
                                    evidence = p.evidence
                  FROM paired p WHERE a.id = p.alert_id AND p.flagged AND p.changed),
            resolved AS (
                UPDATE alerts a SET status = 'resolved', resolved_at = now()
                  FROM paired p WHERE a.id = p.alert_id AND NOT p.flagged AND p.in_scope
                RETURNING 1),
            opened AS (
                INSERT INTO alerts (rule, school_id, subject_key, pupil_id, provision_id, priority, reason, numbers, evidence)
                SELECT rule, school_id, subject_key, pupil_id, provision_id, priority, reason, numbers, evidence
                  FROM paired WHERE alert_id IS NULL
                RETURNING 1)
            SELECT (SELECT count(*) FROM paired WHERE alert_id IS NOT NULL AND flagged) AS kept,
                   (SELECT count(*) FROM paired WHERE status = 'dismissed' AND flagged) AS dismissed_raised,
                   (SELECT count(*) FROM resolved) AS resolved, (SELECT count(*) FROM opened) AS opened
            """, runID, ruleNames)
        guard let counts = try paired.singleRow() else {
            throw PostgresError(code: .decoding, message: "pairing the run's flags with its alerts returned no counts")
        }
        changes.kept = try counts.decode("kept")
        changes.resolved = try counts.decode("resolved")
        changes.opened = try counts.decode("opened")
        guard try counts.decode("dismissed_raised", as: Int.self) > 0 else { return changes }
        // A dismissed alert whose figures are now worse than when it was dismissed: a new
        // alert opens, saying so, and the dismissed one is closed for good.
        let worse = try await db.query(
            """
            WITH worse AS (
                UPDATE alerts a SET status = 'resolved', resolved_at = now()
                  FROM evaluation_flags f
                 WHERE f.evaluation_run_id = $1 AND \(flagRule) AND a.status = 'dismissed' AND a.rule = f.rule
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
            """, runID, ruleNames)
        changes.reopened = worse.rows.count
        changes.opened += changes.reopened
        return changes
    }
}
