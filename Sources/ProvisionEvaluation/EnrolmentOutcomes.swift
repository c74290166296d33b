import Postgres
import ProvisionConfig
import ProvisionModel

/// Per enrolment (DESIGN §6): entry and exit, months, gain, ratio gain, the year-group peer
/// gain and the matched-peer gain, and the three answers, in set-based SQL.
enum EnrolmentOutcomes {
    static func compute(
        _ db: PostgresConnection, runID: Int64, schools: [String], asOf: SchoolDate, settings: Configuration.Evaluation
    ) async throws {
        // Entry: the recorded value, else the latest assessment on or before the start
        // (within the entry window). Exit: the recorded value, else the first assessment on
        // or after the end (within the exit window).
        try await db.execute(
            """
            CREATE TEMP TABLE eval_enrolment ON COMMIT DROP AS
            SELECT e.id AS enrolment_id, e.pupil_id, coalesce(pu.year_group, '') AS year_group, pr.id AS provision_id, pr.school_id,
                   pr.outcome_instrument AS instrument, pr.outcome_subject AS subject, pr.outcome_measure AS measure,
                   coalesce(e.entry_value, ea.value) AS entry_value,
                   CASE WHEN e.entry_value IS NOT NULL THEN coalesce(e.entry_date, e.start_date) ELSE ea.assessed_on END AS entry_date,
                   CASE WHEN e.entry_value IS NOT NULL THEN 'recorded' WHEN ea.value IS NOT NULL THEN 'assessment' END AS entry_source,
                   coalesce(e.exit_value, xa.value) AS exit_value,
                   CASE WHEN e.exit_value IS NOT NULL THEN coalesce(e.exit_date, e.end_date) ELSE xa.assessed_on END AS exit_date,
                   CASE WHEN e.exit_value IS NOT NULL THEN 'recorded' WHEN xa.value IS NOT NULL THEN 'assessment' END AS exit_source,
                   NULL::numeric AS peer_gain, 0 AS peer_n, NULL::numeric AS matched_gain, 0 AS matched_n,
                   CASE pr.outcome_measure WHEN 'age_months' THEN $5::numeric WHEN 'standardised' THEN $6::numeric
                        ELSE greatest(1, abs(coalesce(e.entry_value, ea.value, 0)) * 0.1) END AS band
              FROM enrolments e
              JOIN provisions pr ON pr.id = e.provision_id
              JOIN pupils pu ON pu.id = e.pupil_id
              LEFT JOIN LATERAL (
                   SELECT a.value, a.assessed_on FROM assessments a
                    WHERE e.entry_value IS NULL AND a.pupil_id = e.pupil_id AND a.instrument = pr.outcome_instrument
                      AND a.subject = pr.outcome_subject AND a.measure = pr.outcome_measure
                      AND a.assessed_on <= e.start_date AND a.assessed_on >= e.start_date - $2::int
                    ORDER BY a.assessed_on DESC LIMIT 1) ea ON true
              LEFT JOIN LATERAL (
                   SELECT a.value, a.assessed_on FROM assessments a
                    WHERE e.exit_value IS NULL AND e.end_date IS NOT NULL AND a.pupil_id = e.pupil_id
                      AND a.instrument = pr.outcome_instrument AND a.subject = pr.outcome_subject
                      AND a.measure = pr.outcome_measure AND a.assessed_on >= e.end_date
                      AND a.assessed_on <= e.end_date + $3::int AND a.assessed_on <= $4::date
                    ORDER BY a.assessed_on LIMIT 1) xa ON true
             WHERE pr.outcome_measure IS NOT NULL AND e.start_date <= $4::date
               AND pr.school_id = ANY($1::bigint[])
            """, schools, settings.entryWindowDays, settings.exitWindowDays, asOf.iso, settings.peerBandAgeMonths,
            settings.peerBandStandardised)
        // An exit on or before the entry cannot be a gain: it is dropped, never used.
        try await db.execute("UPDATE eval_enrolment SET exit_value = NULL, exit_date = NULL, exit_source = NULL WHERE exit_date <= entry_date")
        try await db.execute("ANALYZE eval_enrolment")

        // Every non-participant's gain over each distinct window (and year group) the
        // enrolments use, computed once: pupils of that year group with both scores, in no
        // intervention with that outcome over those dates, and not a participant of the window.
        // Only the peers some enrolment uses are kept (its year group; its school, or its band
        // of starting scores), so one school's evaluation does not build the whole trust's.
        try await db.execute(
            """
            CREATE TEMP TABLE eval_peer_gain ON COMMIT DROP AS
            WITH windows AS (
                SELECT instrument, subject, measure, entry_date, exit_date, year_group,
                       array_agg(DISTINCT school_id) AS schools,
                       min(entry_value - band) AS low, max(entry_value + band) AS high
                  FROM eval_enrolment WHERE exit_date IS NOT NULL AND entry_date IS NOT NULL
                 GROUP BY instrument, subject, measure, entry_date, exit_date, year_group)
            SELECT w.instrument, w.subject, w.measure, w.entry_date, w.exit_date, op.id AS pupil_id, op.school_id,
                   w.year_group, a.value AS entry_value, b.value - a.value AS gain
              FROM windows w
              JOIN assessments a ON a.instrument = w.instrument AND a.subject = w.subject AND a.measure = w.measure
                                AND a.assessed_on BETWEEN w.entry_date - 14 AND w.entry_date + 14
              JOIN pupils op ON op.id = a.pupil_id AND coalesce(op.year_group, '') = w.year_group
                             -- Only pupils some enrolment compares with: same school (peers),
                             -- or a starting score within some enrolment's band (matched).
                             AND (op.school_id = ANY (w.schools) OR a.value BETWEEN w.low AND w.high)
              JOIN assessments b ON b.pupil_id = a.pupil_id AND b.instrument = w.instrument AND b.subject = w.subject
                                AND b.measure = w.measure AND b.assessed_on BETWEEN w.exit_date - 14 AND w.exit_date + 14
             WHERE NOT EXISTS (SELECT 1 FROM enrolments e2 JOIN provisions p2 ON p2.id = e2.provision_id
                                WHERE e2.pupil_id = op.id AND p2.outcome_instrument = w.instrument
                                  AND p2.outcome_measure = w.measure AND e2.start_date <= w.exit_date
                                  AND coalesce(e2.end_date, w.exit_date) >= w.entry_date)
            """)
        // Participants of a window are never its peers (a hash join here; as a NOT EXISTS
        // above, the planner chose a nested loop over every peer row).
        try await db.execute(
            """
            DELETE FROM eval_peer_gain g USING eval_enrolment ee
             WHERE ee.pupil_id = g.pupil_id AND ee.instrument = g.instrument AND ee.subject = g.subject
               AND ee.measure = g.measure AND ee.entry_date = g.entry_date AND ee.exit_date = g.exit_date
            """)
        try await db.execute(
            "CREATE INDEX ON eval_peer_gain (entry_date, exit_date, year_group, entry_value)")
        try await db.execute("ANALYZE eval_peer_gain")
        // Gap to peers: the median gain of pupils in the same school and year group over the
        // same window. No participant is a peer, so it is one median per group, not per enrolment.
        try await db.execute(
            """
            UPDATE eval_enrolment t SET peer_gain = s.median, peer_n = s.n
              FROM (SELECT instrument, subject, measure, entry_date, exit_date, year_group, school_id,
                           percentile_cont(0.5) WITHIN GROUP (ORDER BY gain) AS median, count(*) AS n
                      FROM eval_peer_gain GROUP BY instrument, subject, measure, entry_date, exit_date, year_group, school_id) s
             WHERE s.instrument = t.instrument AND s.subject = t.subject AND s.measure = t.measure
               AND s.entry_date = t.entry_date AND s.exit_date = t.exit_date AND s.year_group = t.year_group
               AND s.school_id = t.school_id
            """)
        // Against regression to the mean: pupils anywhere in the trust, same year group,
        // who started from a similar observed score over the same dates (an index range per
        // enrolment).
        try await db.execute(
            """
            UPDATE eval_enrolment t SET matched_gain = s.median, matched_n = s.n
              FROM eval_enrolment ee
              CROSS JOIN LATERAL (
                   SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY g.gain) AS median, count(*) AS n
                     FROM eval_peer_gain g
                    WHERE g.instrument = ee.instrument AND g.subject = ee.subject AND g.measure = ee.measure
                      AND g.entry_date = ee.entry_date AND g.exit_date = ee.exit_date AND g.year_group = ee.year_group
                      AND g.entry_value BETWEEN ee.entry_value - ee.band AND ee.entry_value + ee.band) s
             WHERE t.enrolment_id = ee.enrolment_id AND s.n > 0
            """)

        // The three answers, each with the numbers behind it stored beside it.
        try await db.execute(
            """
            INSERT INTO enrolment_outcomes (evaluation_run_id, enrolment_id, measure, entry_value, entry_date, entry_source,
                                            exit_value, exit_date, exit_source, months, gain, ratio_gain, peer_gain, peer_n,
                                            matched_gain, matched_n, progress_made, accelerated, gap_narrowed)
            SELECT $1, enrolment_id, measure, entry_value, entry_date, entry_source, exit_value, exit_date, exit_source,
                   months, gain, ratio_gain, peer_gain, peer_n, matched_gain, matched_n,
                   gain > 0,
                   CASE measure WHEN 'age_months' THEN ratio_gain > 1 WHEN 'standardised' THEN gain > 0
                                ELSE gain > peer_gain END,
                   gain > peer_gain
              FROM (SELECT *, round(((exit_date - entry_date) / 30.44)::numeric, 2) AS months,
                           exit_value - entry_value AS gain,
                           CASE WHEN measure = 'age_months' AND exit_date > entry_date
                                THEN round((exit_value - entry_value) / ((exit_date - entry_date) / 30.44)::numeric, 2) END AS ratio_gain
                      FROM eval_enrolment) computed
            """, runID)
    }
}
