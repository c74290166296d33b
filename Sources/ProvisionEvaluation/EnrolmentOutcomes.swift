import Postgres
import ProvisionConfig
import ProvisionModel

/// Per enrolment (DESIGN §6): entry and exit, months, gain, ratio gain, the year-group peer
/// gain and the matched-peer gain (``PeerComparison``), and the three answers, in set-based
/// SQL: ``prepare`` finds the entries and exits into `eval_enrolment`, the pass over the
/// results adds the peers' figures, and ``record(_:runID:valueAdded:)`` stores the outcomes
/// with the run, and their value added (``ValueAdded``).
enum EnrolmentOutcomes {
    /// The enrolments of `schools` (ids) started by `asOf`, with their entry and exit
    /// scores, into the temporary table `eval_enrolment` (dropped at commit).
    static func prepare(
        _ db: PostgresConnection, schools: [String], asOf: SchoolDate, settings: Configuration.Evaluation
    ) async throws {
        // Entry: the recorded value, else the latest assessment on or before the start
        // (within the entry window). Exit: the recorded value, else the first assessment on
        // or after the end (within the exit window).
        try await db.execute(
            """
            CREATE TEMP TABLE eval_enrolment ON COMMIT DROP AS
            SELECT e.id AS enrolment_id, e.pupil_id, coalesce(pu.year_group, '') AS year_group, pr.id AS provision_id, pr.school_id,
                   pr.outcome_instrument AS instrument, pr.outcome_subject AS subject, pr.outcome_measure AS measure, t.id AS test_id,
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
              -- The outcome's test, when any result names it (migration 32).
              LEFT JOIN result_tests t
                     ON t.instrument = pr.outcome_instrument AND t.subject = pr.outcome_subject AND t.measure = pr.outcome_measure
              LEFT JOIN LATERAL (
                   SELECT a.value, a.assessed_on FROM results a
                    WHERE e.entry_value IS NULL AND a.pupil_id = e.pupil_id AND a.test_id = t.id
                      AND a.assessed_on <= e.start_date AND a.assessed_on >= e.start_date - $2::int
                    ORDER BY a.assessed_on DESC LIMIT 1) ea ON true
              LEFT JOIN LATERAL (
                   SELECT a.value, a.assessed_on FROM results a
                    WHERE e.exit_value IS NULL AND e.end_date IS NOT NULL AND a.pupil_id = e.pupil_id AND a.test_id = t.id
                      AND a.assessed_on >= e.end_date AND a.assessed_on <= e.end_date + $3::int AND a.assessed_on <= $4::date
                    ORDER BY a.assessed_on LIMIT 1) xa ON true
             WHERE pr.outcome_measure IS NOT NULL AND e.start_date <= $4::date
               AND pr.school_id = ANY($1::bigint[])
            """, schools, settings.entryWindowDays, settings.exitWindowDays, asOf.iso, settings.peerBandAgeMonths,
            settings.peerBandStandardised)
        // An exit on or before the entry cannot be a gain: it is dropped, never used.
        try await db.execute("UPDATE eval_enrolment SET exit_value = NULL, exit_date = NULL, exit_source = NULL WHERE exit_date <= entry_date")
        try await db.execute("ANALYZE eval_enrolment")
    }

    /// Stores each enrolment of `eval_enrolment` with run `runID`: its figures, its value
    /// added, and the three answers, each with the numbers behind it beside it.
    static func record(_ db: PostgresConnection, runID: Int64, valueAdded: ValueAdded.Found) async throws {
        try await db.execute(
            """
            INSERT INTO enrolment_outcomes (evaluation_run_id, enrolment_id, measure, entry_value, entry_date, entry_source,
                                            exit_value, exit_date, exit_source, months, gain, ratio_gain, peer_gain, peer_n,
                                            matched_gain, matched_n, progress_made, accelerated, gap_narrowed,
                                            expected_exit, value_added, history_n)
            SELECT $1, computed.enrolment_id, measure, entry_value, entry_date, entry_source, exit_value, exit_date, exit_source,
                   months, gain, ratio_gain, peer_gain, peer_n, matched_gain, matched_n,
                   gain > 0,
                   CASE measure WHEN 'age_months' THEN ratio_gain > 1 WHEN 'standardised' THEN gain > 0
                                ELSE gain > peer_gain END,
                   gain > peer_gain,
                   v.expected, v.added, v.history
              FROM (SELECT *, round(((exit_date - entry_date) / 30.44)::numeric, 2) AS months,
                           exit_value - entry_value AS gain,
                           CASE WHEN measure = 'age_months' AND exit_date > entry_date
                                THEN round((exit_value - entry_value) / ((exit_date - entry_date) / 30.44)::numeric, 2) END AS ratio_gain
                      FROM eval_enrolment) computed
              LEFT JOIN unnest($2::bigint[], $3::numeric[], $4::numeric[], $5::int[]) AS v (enrolment_id, expected, added, history)
                     ON v.enrolment_id = computed.enrolment_id
            """, runID, valueAdded.ids, valueAdded.expected, valueAdded.added, valueAdded.history)
    }
}
