import Foundation
import Postgres
import ProvisionConfig
import ProvisionModel

/// Reads what the reports show. Every statement is parameterised; every figure comes from
/// the imported data and the latest evaluation that covers the school.
struct ReportData {
    let db: PostgresConnection
    let config: Configuration
    let term: ReportTerm

    struct School {
        let id: Int64
        let urn: String
        let name: String
    }

    struct Provision {
        let id: Int64
        let schoolURN: String
        let provisionID: String
        let name: String
        let areaOfNeed: String?
        let wave: Int?
        let priority: String?
        let statutory: Bool
        let delivery: String?
        let groupSize: Int?
        let sessionsPerWeek: Double?
        let minutesPerSession: Int?
        let startDate: String?
        let endDate: String?
        let fundingStream: String?
        let staff: String
        /// Hours a week of delivery: sessions × length, and for individual delivery times the
        /// pupils receiving it (one-to-one time is given to each pupil).
        let hoursPerWeek: Double
        /// Hours delivered inside the term.
        let termHours: Double
        /// Staff time in the term plus resources when it started in the term (whole term);
        /// 0 when ``costRecorded`` is false.
        let termCost: Double
        /// Whether the provision or its staff have an hourly cost, or it has a resource cost:
        /// without either its cost is "not recorded", never £0.
        let costRecorded: Bool
        /// Pupils receiving it in the term (enrolments neither planned nor withdrawn).
        let receiving: Int
    }

    struct Enrolment {
        let provisionID: Int64
        let upn: String
        let forename: String
        let surname: String
        let yearGroup: String?
        let startDate: String
        let endDate: String?
        let status: String?
        let measure: String?
        let entry: Double?
        let exit: Double?
        let gain: Double?
        let ratioGain: Double?
        let months: Double?
        let progressMade: Bool?
        let accelerated: Bool?
        let gapNarrowed: Bool?

        var pupilName: String { "\(forename) \(surname)" }
    }

    struct Outcome {
        let provisionID: Int64?
        let schoolURN: String?
        let localID: String?
        let name: String
        let measure: String
        let n: Int
        let effect: Double?
        let low: Double?
        let high: Double?
        let adjusted: Double?
        let adjustedLow: Double?
        let adjustedHigh: Double?
        /// Value added beyond the exit the pupils' own histories predicted (per month for
        /// reading ages, points for standardised scores), with its interval.
        let valueAdded: Double?
        let valueAddedLow: Double?
        let valueAddedHigh: Double?
        let valueAddedN: Int
        let pooled: Bool
        let verdict: String
        let costPerPupil: Double?
        let costPerUnitGain: Double?
    }

    func schools(only urn: String?) async throws -> [School] {
        try await db.query(
            "SELECT id, urn, name FROM schools WHERE ($1::text IS NULL OR urn = $1) ORDER BY urn", urn
        ).rows.map { School(id: try $0.decode("id"), urn: try $0.decode("urn"), name: try $0.decode("name")) }
    }

    /// The latest successful evaluation whose scope includes the school (nil for the trust).
    func evaluationRun(school: School?) async throws -> (id: Int64, asOf: String)? {
        try await Self.evaluationRun(db, school: school?.id)
    }

    /// The latest successful evaluation that covered `school` (an id; the latest trust-wide
    /// one when nil): the run holding the school's current outcomes, whichever school's
    /// evaluation came last. Runs from before `evaluation_run_schools` count by their scope.
    static func evaluationRun(_ db: PostgresConnection, school: Int64?) async throws -> (id: Int64, asOf: String)? {
        let row = try await db.query(
            """
            SELECT r.id, r.as_of::text AS as_of FROM evaluation_runs r
             WHERE r.status = 'succeeded'
               AND CASE WHEN $1::bigint IS NULL THEN r.school_id IS NULL
                        WHEN EXISTS (SELECT 1 FROM evaluation_run_schools c WHERE c.evaluation_run_id = r.id)
                        THEN EXISTS (SELECT 1 FROM evaluation_run_schools c WHERE c.evaluation_run_id = r.id AND c.school_id = $1)
                        ELSE r.school_id IS NULL OR r.school_id = $1 END
             ORDER BY r.id DESC LIMIT 1
            """, school
        ).singleRow()
        guard let row else { return nil }
        return (try row.decode("id"), try row.decode("as_of"))
    }

    /// Provisions whose dates overlap the term, with their hours and cost in it.
    func provisions(schoolIDs: [Int64]) async throws -> [Provision] {
        try await db.query(
            """
            WITH p AS (
                SELECT pr.*, s.urn AS school_urn,
                       greatest(0, least(coalesce(pr.end_date, $3::date), $3::date)
                                   - greatest(coalesce(pr.start_date, $2::date), $2::date) + 1)::float8 / 7 AS weeks,
                       coalesce(pr.sessions_per_week, 0)::float8 * coalesce(pr.minutes_per_session, 0) / 60 AS session_hours,
                       (SELECT count(*) FROM enrolments e
                         WHERE e.provision_id = pr.id AND coalesce(e.status, 'active') NOT IN ('planned', 'withdrawn')
                           AND e.start_date <= $3::date AND coalesce(e.end_date, $3::date) >= $2::date)::int AS receiving,
                       coalesce(pr.hourly_cost, (SELECT avg(st.hourly_cost) FROM provision_staff ps
                                                   JOIN staff st ON st.id = ps.staff_id WHERE ps.provision_id = pr.id))::float8 AS rate,
                       CASE WHEN coalesce(pr.start_date, $2::date) BETWEEN $2::date AND $3::date
                            THEN coalesce(pr.resource_cost, 0) ELSE 0 END::float8 AS resources,
                       coalesce((SELECT string_agg(st.name, ', ' ORDER BY st.name) FROM provision_staff ps
                                   JOIN staff st ON st.id = ps.staff_id WHERE ps.provision_id = pr.id), '') AS staff_names
                  FROM provisions pr JOIN schools s ON s.id = pr.school_id
                 WHERE pr.school_id = ANY($1::bigint[])
                   AND coalesce(pr.start_date, $2::date) <= $3::date AND coalesce(pr.end_date, $3::date) >= $2::date
            ), h AS (
                SELECT p.*, session_hours * CASE WHEN delivery = 'individual' THEN receiving ELSE 1 END AS hours_per_week FROM p
            )
            SELECT id, school_urn, provision_id, name, area_of_need, wave, priority, statutory, delivery, group_size,
                   sessions_per_week::float8 AS sessions_per_week, minutes_per_session, start_date::text AS start_date,
                   end_date::text AS end_date, funding_stream, staff_names, hours_per_week, receiving,
                   hours_per_week * weeks AS term_hours, hours_per_week * weeks * coalesce(rate, 0) + resources AS term_cost,
                   (rate IS NOT NULL OR resource_cost IS NOT NULL) AS cost_recorded
              FROM h
             ORDER BY school_urn, coalesce(area_of_need, 'ZZ'), coalesce(wave, 9), name, provision_id
            """, schoolIDs.map(String.init), term.start.iso, term.end.iso
        ).rows.map { row in
            Provision(
                id: try row.decode("id"), schoolURN: try row.decode("school_urn"), provisionID: try row.decode("provision_id"),
                name: try row.decode("name"), areaOfNeed: try row.decode("area_of_need"), wave: try row.decode("wave"),
                priority: try row.decode("priority"), statutory: try row.decode("statutory"), delivery: try row.decode("delivery"),
                groupSize: try row.decode("group_size"), sessionsPerWeek: try row.decode("sessions_per_week"),
                minutesPerSession: try row.decode("minutes_per_session"), startDate: try row.decode("start_date"),
                endDate: try row.decode("end_date"), fundingStream: try row.decode("funding_stream"),
                staff: try row.decode("staff_names"), hoursPerWeek: try row.decode("hours_per_week"),
                termHours: try row.decode("term_hours"), termCost: try row.decode("term_cost"),
                costRecorded: try row.decode("cost_recorded"), receiving: try row.decode("receiving"))
        }
    }

    /// The columns ``enrolment(_:)`` reads, from `enrolments e`, `pupils p` and
    /// `enrolment_outcomes o`: the evaluation's entry and exit where it has them, else the
    /// recorded ones.
    static let enrolmentColumns = """
        e.provision_id, p.upn, p.forename, p.surname, p.year_group, e.start_date::text AS start_date,
        e.end_date::text AS end_date, e.status,
        coalesce(o.measure, (SELECT pr.outcome_measure FROM provisions pr WHERE pr.id = e.provision_id)) AS measure,
        coalesce(o.entry_value, e.entry_value)::float8 AS entry, coalesce(o.exit_value, e.exit_value)::float8 AS exit,
        o.gain::float8 AS gain, o.ratio_gain::float8 AS ratio_gain, o.months::float8 AS months,
        o.progress_made, o.accelerated, o.gap_narrowed
        """

    /// Joins `enrolment_outcomes o` of run `$2` (nil: none) to each enrolment `e`, found by its
    /// key. As a plain `LEFT JOIN`, the outcomes of a run written since the table's statistics
    /// were gathered (the common case: a report right after an evaluation) looked like one row,
    /// so the planner matched every enrolment against all of the run's outcomes: 0.24 s of a
    /// 100-school trust's impact report, growing with the square of the trust. `OFFSET 0`
    /// keeps the look-up apart, one index probe per enrolment.
    static let outcomeOfEnrolment = """
        LEFT JOIN LATERAL (SELECT * FROM enrolment_outcomes o
                            WHERE o.evaluation_run_id = $2 AND o.enrolment_id = e.id OFFSET 0) o ON true
        """

    /// Enrolments in the given provisions overlapping the term (all of them when `wholeHistory`),
    /// with the evaluation's entry, exit and progress where it has them.
    func enrolments(provisionIDs: [Int64], runID: Int64?, wholeHistory: Bool = false) async throws -> [Enrolment] {
        try await db.query(
            """
            SELECT \(Self.enrolmentColumns)
              FROM enrolments e JOIN pupils p ON p.id = e.pupil_id
              \(Self.outcomeOfEnrolment)
             WHERE e.provision_id = ANY($1::bigint[])
               AND ($5 OR (e.start_date <= $4::date AND coalesce(e.end_date, $4::date) >= $3::date))
             ORDER BY e.provision_id, p.surname, p.forename, e.start_date
            """, provisionIDs.map(String.init), runID, term.start.iso, term.end.iso, wholeHistory
        ).rows.map(Self.enrolment)
    }

    static func enrolment(_ row: PostgresRow) throws -> Enrolment {
        Enrolment(
            provisionID: try row.decode("provision_id"), upn: try row.decode("upn"), forename: try row.decode("forename"),
            surname: try row.decode("surname"), yearGroup: try row.decode("year_group"), startDate: try row.decode("start_date"),
            endDate: try row.decode("end_date"), status: try row.decode("status"), measure: try row.decode("measure"),
            entry: try row.decode("entry"), exit: try row.decode("exit"), gain: try row.decode("gain"),
            ratioGain: try row.decode("ratio_gain"), months: try row.decode("months"), progressMade: try row.decode("progress_made"),
            accelerated: try row.decode("accelerated"), gapNarrowed: try row.decode("gap_narrowed"))
    }

    /// The year group a pupil was in during the report's term, from the one they are in now
    /// (a past term's map shows Year 3 for a pupil now in Year 4).
    func yearGroupInTerm(_ current: String?, today: SchoolDate = SchoolDate.today()) -> String? {
        guard let current, let year = Int(current) else { return current }
        func academicYear(_ date: SchoolDate) -> Int { date.month >= 9 ? date.year : date.year - 1 }
        let then = year - (academicYear(today) - academicYear(term.start))
        switch then {
        case 1...: return String(then)
        case 0: return "R"
        default: return "N"
        }
    }

    /// Outcomes of an evaluation run: per provision (`provision_id` set) or per programme.
    func outcomes(runID: Int64, programmes: Bool) async throws -> [Outcome] {
        try await db.query(
            """
            SELECT o.provision_id, s.urn AS school_urn, pr.provision_id AS local_id, o.name, o.measure, o.n,
                   o.effect::float8 AS effect, o.ci_low::float8 AS ci_low, o.ci_high::float8 AS ci_high,
                   o.adjusted_effect::float8 AS adjusted, o.adjusted_low::float8 AS adjusted_low,
                   o.adjusted_high::float8 AS adjusted_high, o.verdict, o.cost_per_pupil::float8 AS cost_per_pupil,
                   o.cost_per_unit_gain::float8 AS cost_per_unit_gain, o.value_added::float8 AS value_added,
                   o.value_added_low::float8 AS value_added_low, o.value_added_high::float8 AS value_added_high,
                   o.value_added_n, o.pooled
              FROM provision_outcomes o
              LEFT JOIN provisions pr ON pr.id = o.provision_id
              LEFT JOIN schools s ON s.id = pr.school_id
             WHERE o.evaluation_run_id = $1 AND (o.provision_id IS NULL) = $2
             ORDER BY s.urn NULLS FIRST, o.name, o.measure
            """, runID, programmes
        ).rows.map { row in
            Outcome(
                provisionID: try row.decode("provision_id"), schoolURN: try row.decode("school_urn"),
                localID: try row.decode("local_id"), name: try row.decode("name"), measure: try row.decode("measure"),
                n: try row.decode("n"), effect: try row.decode("effect"), low: try row.decode("ci_low"),
                high: try row.decode("ci_high"), adjusted: try row.decode("adjusted"),
                adjustedLow: try row.decode("adjusted_low"), adjustedHigh: try row.decode("adjusted_high"),
                valueAdded: try row.decode("value_added"), valueAddedLow: try row.decode("value_added_low"),
                valueAddedHigh: try row.decode("value_added_high"), valueAddedN: try row.decode("value_added_n"),
                pooled: try row.decode("pooled"), verdict: try row.decode("verdict"), costPerPupil: try row.decode("cost_per_pupil"),
                costPerUnitGain: try row.decode("cost_per_unit_gain"))
        }
    }

    /// The latest trust-wide evaluation (programme verdicts across schools), if any.
    func trustRun() async throws -> Int64? {
        try await db.query(
            "SELECT id FROM evaluation_runs WHERE status = 'succeeded' AND school_id IS NULL ORDER BY id DESC LIMIT 1"
        ).singleRow()?.decode("id", as: Int64.self)
    }
}

/// Number formatting for people: pounds, hours and effects.
enum Format {
    static func pounds(_ value: Double?) -> String {
        guard let value else { return "–" }
        let whole = Int(value.rounded())
        return (whole < 0 ? "-£" : "£") + whole.magnitude.groupedDigits
    }

    /// A score with its unit: a reading age as years and months ("9y4m"), a standardised
    /// score as "112 SS", steps as "3 steps"; "–" when there is none.
    static func score(_ value: Double?, measure: String?) -> String {
        guard let value else { return "–" }
        switch measure {
        case "age_months":
            let months = Int(value.rounded())
            return "\(months / 12)y\(months % 12)m"
        case "standardised": return "\(Int(value.rounded())) SS"
        case "steps": return "\(number(value, places: 0)) steps"
        default: return number(value, places: 0)
        }
    }

    /// "5 January 2026" from "2026-01-05" (the text itself when it is not a date).
    static func longDate(_ iso: String) -> String {
        guard let date = SchoolDate(iso: iso) else { return iso }
        return longDate(date)
    }

    /// "12 March 2027".
    static func longDate(_ date: SchoolDate) -> String {
        let months = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]
        return "\(date.day) \(months[date.month - 1]) \(date.year)"
    }

    static func number(_ value: Double?, places: Int = 1) -> String {
        guard let value else { return "–" }
        return String(format: "%.\(places)f", value)
    }

    static func interval(_ low: Double?, _ high: Double?) -> String {
        guard let low, let high else { return "–" }
        return "\(number(low, places: 2)) to \(number(high, places: 2))"
    }

    static func share(_ part: Int, of whole: Int) -> String {
        whole == 0 ? "–" : "\(Int((Double(part) / Double(whole) * 100).rounded()))%"
    }

    static func yesNo(_ value: Bool?) -> String {
        value.map { $0 ? "yes" : "no" } ?? "–"
    }

    /// Plain numbers for CSV and JSON: no grouping, no currency sign.
    static func plain(_ value: Double?, places: Int = 2) -> String {
        guard let value else { return "" }
        return String(format: "%.\(places)f", value)
    }
}

extension JSONValue {
    static func number(_ value: Double?, places: Int = 3) -> JSONValue {
        guard let value, value.isFinite else { return .null }
        let scale = pow(10, Double(places))
        return .number((value * scale).rounded() / scale)
    }

    static func text(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
}

/// Names for codes a reader should not have to look up.
enum Vocabulary {
    static func areaOfNeed(_ code: String?) -> String {
        switch code {
        case "CI": "Communication and interaction"
        case "CL": "Cognition and learning"
        case "SEMH": "Social, emotional and mental health"
        case "SP": "Sensory and/or physical"
        default: "Area of need not recorded"
        }
    }

    static func need(_ code: String) -> String {
        [
            "SPLD": "Specific learning difficulty", "MLD": "Moderate learning difficulty", "SLD": "Severe learning difficulty",
            "PMLD": "Profound and multiple learning difficulty", "SEMH": "Social, emotional and mental health",
            "SLCN": "Speech, language and communication", "HI": "Hearing impairment", "VI": "Visual impairment",
            "MSI": "Multi-sensory impairment", "PD": "Physical disability", "ASD": "Autistic spectrum disorder",
            "OTH": "Other difficulty", "NSA": "SEN support but no specialist assessment",
        ][code] ?? code
    }

    /// A count of alerts of a rule, in words: "19 stalled pupils", "1 EHCP provision not delivered".
    static func alerts(_ rule: String, _ n: Int) -> String {
        let (one, many): (String, String) = switch rule {
        case "stalled_pupil": ("stalled pupil", "stalled pupils")
        case "ineffective_intervention": ("intervention not working", "interventions not working")
        case "ehcp_provision_not_delivered": ("EHCP provision not delivered", "EHCP provisions not delivered")
        case "missing_exit_data": ("intervention without exit data", "interventions without exit data")
        case "need_without_provision": ("pupil with SEN and no provision", "pupils with SEN and no provision")
        case "duplicated_provision": ("pupil in overlapping interventions", "pupils in overlapping interventions")
        case "review_overdue": ("plan overdue for review", "plans overdue for review")
        case "target_date_passed": ("target past its date unrated", "targets past their date unrated")
        case "parents_not_informed": ("plan not shared with parents", "plans not shared with parents")
        default: (rule.replacingOccurrences(of: "_", with: " "), rule.replacingOccurrences(of: "_", with: " "))
        }
        return "\(n) \(n == 1 ? one : many)"
    }

    static func verdictTone(_ verdict: String) -> ReportDocument.Tone? {
        switch verdict {
        case "effective": .good
        case "ineffective": .bad
        case "inconclusive": .neutral
        default: .muted
        }
    }

    static func measure(_ measure: String?) -> String {
        switch measure {
        case "age_months": "ratio gain"
        case "standardised": "standardised score change"
        case .some(let other): "\(other) gain"
        case nil: "–"
        }
    }
}
