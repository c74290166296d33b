import Postgres
import ProvisionConfig
import ProvisionModel

/// The flags of DESIGN §6, each with a plain-English reason and the figures behind it,
/// written to `evaluation_flags` for the run. Reasons never contain pupils' names.
enum Flags {
    /// The rules raised from the records alone, which need none of the run's outcomes: they are
    /// raised while the pass over everyone's results runs. (Stalled pupils come from the
    /// growth model, ``StallDetection``.)
    static let fromRecords = [
        "ehcp_provision_not_delivered", "need_without_provision", "duplicated_provision", "review_overdue", "target_date_passed",
        "parents_not_informed",
    ]

    /// Raises the flags of the ``fromRecords`` rules for the `evaluated` schools (ids).
    static func raiseFromRecords(
        _ db: PostgresConnection, runID: Int64, evaluated: [String], asOf: SchoolDate, settings: Configuration.Evaluation
    ) async throws -> [String: Int] {
        var counts: [String: Int] = [:]
        let scope = "p.school_id = ANY($2::bigint[])"

        // Statutory provision in force now whose enrolment is not active: one flag per pupil and
        // provision (a pupil withdrawn and planned again has two enrolments; the latest says
        // why), none while another enrolment of theirs in it is active.
        counts["ehcp_provision_not_delivered"] = try await db.execute(
            """
            INSERT INTO evaluation_flags (evaluation_run_id, rule, school_id, subject_key, pupil_id, provision_id, priority, reason, numbers)
            SELECT DISTINCT ON (p.id, pr.id) $1, 'ehcp_provision_not_delivered', p.school_id, 'ehcp:' || p.upn || ':' || pr.provision_id,
                   p.id, pr.id, 3,
                   format('%s is specified in this pupil''s EHC plan but is %s, not being delivered.', pr.name,
                          coalesce(e.status, 'not started')),
                   jsonb_build_object('provision', pr.name, 'status', e.status, 'start_date', e.start_date)
              FROM enrolments e JOIN provisions pr ON pr.id = e.provision_id JOIN pupils p ON p.id = e.pupil_id
             WHERE pr.statutory AND p.on_roll AND p.sen_provision = 'E' AND \(scope)
               AND coalesce(e.status, 'planned') <> 'active' AND coalesce(e.status, '') <> 'completed'
               AND coalesce(pr.start_date, e.start_date) <= $3::date AND coalesce(pr.end_date, e.end_date, $3::date) >= $3::date
               AND NOT EXISTS (SELECT 1 FROM enrolments d WHERE d.pupil_id = p.id AND d.provision_id = pr.id AND d.status = 'active')
             ORDER BY p.id, pr.id, e.start_date DESC
            """, runID, evaluated, asOf.iso)

        let active = """
            (e.status = 'active' OR (e.status IS NULL AND e.start_date <= $3::date AND coalesce(e.end_date, $3::date) >= $3::date))
            """
        counts["need_without_provision"] = try await db.execute(
            """
            INSERT INTO evaluation_flags (evaluation_run_id, rule, school_id, subject_key, pupil_id, priority, reason, numbers)
            SELECT $1, 'need_without_provision', p.school_id, 'need:' || p.upn, p.id, CASE p.sen_provision WHEN 'E' THEN 2 ELSE 1 END,
                   format('On %s (%s) with no active provision.',
                          CASE p.sen_provision WHEN 'E' THEN 'an EHC plan' ELSE 'SEN support' END,
                          coalesce((SELECT string_agg(code, ', ' ORDER BY rank) FROM pupil_needs n WHERE n.pupil_id = p.id), 'need not recorded')),
                   jsonb_build_object('sen_provision', p.sen_provision)
              FROM pupils p
             WHERE p.on_roll AND p.sen_provision IN ('K', 'E') AND \(scope)
               AND NOT EXISTS (SELECT 1 FROM enrolments e WHERE e.pupil_id = p.id AND \(active))
            """, runID, evaluated, asOf.iso)

        counts["duplicated_provision"] = try await db.execute(
            """
            INSERT INTO evaluation_flags (evaluation_run_id, rule, school_id, subject_key, pupil_id, priority, reason, numbers)
            SELECT $1, 'duplicated_provision', p.school_id,
                   'duplicate:' || p.upn || ':' || pr.outcome_instrument || ':' || pr.outcome_subject || ':' || pr.outcome_measure, p.id, 1,
                   format('In %s interventions at once with the same outcome (%s %s): %s.', count(DISTINCT pr.id),
                          pr.outcome_instrument, pr.outcome_subject, string_agg(DISTINCT pr.name, ', ')),
                   jsonb_build_object('provisions', jsonb_agg(DISTINCT pr.provision_id))
              FROM enrolments e JOIN provisions pr ON pr.id = e.provision_id JOIN pupils p ON p.id = e.pupil_id
             WHERE p.on_roll AND \(scope) AND pr.outcome_measure IS NOT NULL AND \(active)
             GROUP BY p.school_id, p.upn, p.id, pr.outcome_instrument, pr.outcome_subject, pr.outcome_measure
            HAVING count(DISTINCT pr.id) > 1
            """, runID, evaluated, asOf.iso)

        try await raisePlanFlags(db, runID: runID, schools: evaluated, asOf: asOf, settings: settings, counts: &counts)
        return counts
    }

    /// Raises the flags that read the run's outcomes: missing exit data for the `evaluated`
    /// schools (ids), and "ineffective intervention" for every provision the run judged (of
    /// `covering`, or the trust when nil).
    static func raiseFromOutcomes(
        _ db: PostgresConnection, runID: Int64, covering schoolID: Int64?, evaluated: [String], asOf: SchoolDate,
        settings: Configuration.Evaluation
    ) async throws -> [String: Int] {
        var counts: [String: Int] = [:]
        counts["ineffective_intervention"] = try await db.execute(
            """
            INSERT INTO evaluation_flags (evaluation_run_id, rule, school_id, subject_key, provision_id, priority, reason, numbers)
            SELECT $1, 'ineffective_intervention', o.school_id, 'provision:' || pr.provision_id, pr.id, 2,
                   CASE WHEN o.value_added IS NOT NULL AND o.value_added_n >= $3 THEN
                   format('%s is not working: against what %s pupils'' own earlier results predicted, it added %s (95%% interval %s to %s), less than the %s worth having.',
                          o.name, o.value_added_n,
                          CASE WHEN o.measure = 'age_months' THEN round(o.value_added, 1) || ' months of extra progress a month'
                               ELSE round(o.value_added, 1) || ' standardised points' END,
                          round(o.value_added_low, 1), round(o.value_added_high, 1),
                          CASE WHEN o.measure = 'age_months' THEN $4::float8 || ' months a month' ELSE $5::float8 || ' points' END)
                   ELSE
                   format('%s (%s pupils with entry and exit) is not working: %s, 95%% interval %s to %s%s.', o.name, o.n,
                          CASE WHEN o.measure = 'age_months' THEN 'mean ratio gain ' || round(o.effect, 2)
                               ELSE 'mean gain ' || round(o.effect, 1) END,
                          round(o.ci_low, 2), round(o.ci_high, 2),
                          CASE WHEN o.adjusted_effect IS NOT NULL
                               THEN format('; against similar pupils not in it, %s', round(o.adjusted_effect, 1)) ELSE '' END)
                   END,
                   jsonb_build_object('n', o.n, 'effect', o.effect, 'ci_low', o.ci_low, 'ci_high', o.ci_high,
                                      'adjusted_effect', o.adjusted_effect, 'measure', o.measure, 'cost_total', o.cost_total,
                                      'value_added', o.value_added, 'value_added_low', o.value_added_low,
                                      'value_added_high', o.value_added_high, 'value_added_n', o.value_added_n)
              FROM provision_outcomes o JOIN provisions pr ON pr.id = o.provision_id
             WHERE o.evaluation_run_id = $1 AND o.verdict = 'ineffective' AND ($2::bigint IS NULL OR o.school_id = $2::bigint)
            """, runID, schoolID, settings.minimumN, settings.minimumWorthwhileRatePerMonth, settings.minimumWorthwhilePoints)

        counts["missing_exit_data"] = try await db.execute(
            """
            INSERT INTO evaluation_flags (evaluation_run_id, rule, school_id, subject_key, pupil_id, provision_id, priority, reason, numbers)
            SELECT $1, 'missing_exit_data', pr.school_id, 'exit:' || p.upn || ':' || pr.provision_id || ':' || e.start_date,
                   p.id, pr.id, 1,
                   format('%s ended on %s (%s days ago) with no exit score for %s %s, so its impact cannot be judged.',
                          pr.name, to_char(e.end_date, 'DD/MM/YYYY'), $3::date - e.end_date, pr.outcome_instrument, pr.outcome_subject),
                   jsonb_build_object('end_date', e.end_date, 'days_since', $3::date - e.end_date,
                                      'instrument', pr.outcome_instrument, 'measure', pr.outcome_measure)
              FROM enrolment_outcomes o JOIN enrolments e ON e.id = o.enrolment_id
              JOIN provisions pr ON pr.id = e.provision_id JOIN pupils p ON p.id = e.pupil_id
             WHERE o.evaluation_run_id = $1 AND o.exit_value IS NULL AND e.end_date IS NOT NULL
               AND pr.school_id = ANY($2::bigint[])
               AND e.end_date < $3::date - $4::int AND coalesce(e.status, 'completed') <> 'withdrawn'
            """, runID, evaluated, asOf.iso, settings.missingExitDays)
        return counts
    }

    /// The assess–plan–do–review cycle's rules (issue 18), on each plan's current version:
    /// a review date passed with no review, a target's date passed with no rating, and a new
    /// version of a pupil's plan not shared with their parents. Pupils who have left, and
    /// group plans whose provision ended before the date in question, raise nothing.
    static func raisePlanFlags(
        _ db: PostgresConnection, runID: Int64, schools: [String], asOf: SchoolDate, settings: Configuration.Evaluation,
        counts: inout [String: Int]
    ) async throws {
        let current = """
            current_version AS (
                SELECT DISTINCT ON (v.plan_id) v.*, sp.school_id, sp.kind, sp.pupil_id, sp.provision_id
                  FROM plan_versions v JOIN support_plans sp ON sp.id = v.plan_id
                  LEFT JOIN pupils p ON p.id = sp.pupil_id LEFT JOIN provisions pr ON pr.id = sp.provision_id
                 WHERE sp.school_id = ANY($2::bigint[])
                   AND (p.id IS NULL OR p.on_roll) AND (pr.id IS NULL OR coalesce(pr.end_date, $3::date) >= v.next_review - 31)
                 ORDER BY v.plan_id, v.version DESC)
            """
        let kind = "CASE c.kind WHEN 'ehcp' THEN 'EHC plan outcomes' WHEN 'group' THEN 'group plan' ELSE 'SEN support plan' END"
        counts["review_overdue"] = try await db.execute(
            """
            WITH \(current)
            INSERT INTO evaluation_flags (evaluation_run_id, rule, school_id, subject_key, pupil_id, provision_id, priority, reason, numbers)
            SELECT $1, 'review_overdue', c.school_id, 'review:' || c.plan_id || ':' || c.version, c.pupil_id, c.provision_id, 2,
                   format('The %s (version %s) was due for review on %s, %s days ago, and has not been reviewed.',
                          \(kind), c.version, to_char(c.next_review, 'DD/MM/YYYY'), $3::date - c.next_review),
                   jsonb_build_object('plan_id', c.plan_id, 'version', c.version, 'next_review', c.next_review,
                                      'days_overdue', $3::date - c.next_review)
              FROM current_version c
             WHERE c.next_review < $3::date AND NOT EXISTS (SELECT 1 FROM plan_reviews r WHERE r.plan_version_id = c.id)
            """, runID, schools, asOf.iso)

        counts["target_date_passed"] = try await db.execute(
            """
            WITH \(current)
            INSERT INTO evaluation_flags (evaluation_run_id, rule, school_id, subject_key, pupil_id, provision_id, priority, reason, numbers)
            SELECT $1, 'target_date_passed', c.school_id, 'target:' || t.id, t.pupil_id, c.provision_id, 1,
                   format('Target %s of the %s (version %s) was due on %s and has not been rated yet.',
                          t.position, \(kind), c.version, to_char(t.by_date, 'DD/MM/YYYY')),
                   jsonb_build_object('plan_id', c.plan_id, 'version', c.version, 'target', t.position, 'by_date', t.by_date,
                                      'days_since', $3::date - t.by_date)
              FROM current_version c JOIN plan_targets t ON t.plan_version_id = c.id JOIN pupils p ON p.id = t.pupil_id
             WHERE t.by_date < $3::date AND p.on_roll
               AND NOT EXISTS (SELECT 1 FROM review_ratings rr WHERE rr.target_id = t.id)
            """, runID, schools, asOf.iso)

        counts["parents_not_informed"] = try await db.execute(
            """
            WITH \(current)
            INSERT INTO evaluation_flags (evaluation_run_id, rule, school_id, subject_key, pupil_id, priority, reason, numbers)
            SELECT $1, 'parents_not_informed', c.school_id, 'share:' || c.plan_id || ':' || c.version, c.pupil_id, 1,
                   format('Version %s of this pupil''s %s was written on %s, %s days ago, and sharing it with their parents has not been recorded.',
                          c.version, \(kind), to_char(c.created_at, 'DD/MM/YYYY'), $3::date - c.created_at::date),
                   jsonb_build_object('plan_id', c.plan_id, 'version', c.version, 'written_on', c.created_at::date,
                                      'days_since', $3::date - c.created_at::date)
              FROM current_version c
             WHERE c.kind <> 'group' AND c.created_at::date <= $3::date - $4::int
               AND NOT EXISTS (SELECT 1 FROM plan_shares sh WHERE sh.plan_version_id = c.id)
            """, runID, schools, asOf.iso, settings.parentsInformedDays)
    }
}
