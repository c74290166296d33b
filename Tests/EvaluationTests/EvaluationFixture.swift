import Foundation
import Postgres
import ProvisionConfig
import ProvisionEvaluation
import ProvisionModel
import ProvisionStore
import ProvisionTestSupport

/// A small hand-made school in a fresh database, built with plain SQL, for one rule at a time.
struct EvaluationFixture {
    let db: PostgresConnection
    /// The database's URL, for a second connection.
    let url: String
    let school: Int64
    static let asOf = SchoolDate(iso: "2026-01-31")!

    static func make(_ label: String) async throws -> EvaluationFixture {
        let (db, url) = try await TestPostgres.shared.freshConnection(label)
        try await Migrator().migrate(db)
        let school = try await db.query("INSERT INTO schools (urn, name) VALUES ('139001', 'Test Primary') RETURNING id").scalar(as: Int64.self)
        return EvaluationFixture(db: db, url: url, school: school)
    }

    /// A pupil in Year 4; returns its id.
    @discardableResult
    func pupil(_ n: Int, sen: String = "N", onRoll: Bool = true, year: String = "4") async throws -> Int64 {
        try await db.query(
            """
            INSERT INTO pupils (upn, school_id, surname, forename, dob, year_group, sen_provision, on_roll)
            VALUES ($1, $2, 'S', 'F', '2016-05-01', $3, $4, $5) RETURNING id
            """, UPN.withCheckLetter(String(format: "801200025%03d", n))!, school, year, sen, onRoll
        ).scalar(as: Int64.self)
    }

    func assessment(_ pupil: Int64, _ measure: String, _ value: Double, _ date: String, instrument: String? = nil) async throws {
        let test = instrument ?? (measure == "standardised" ? "NGRT" : "Salford")
        try await db.execute(
            """
            INSERT INTO assessments (pupil_id, school_id, instrument, subject, measure, value, assessed_on)
            VALUES ($1, $2, $3, 'reading', $4, $5, $6::date)
            """, pupil, school, test, measure, value, date)
    }

    /// A provision with an outcome measure (nil for none); returns its id.
    @discardableResult
    func provision(
        _ id: String, measure: String? = "age_months", statutory: Bool = false, start: String = "2025-09-15",
        end: String? = "2025-12-12"
    ) async throws -> Int64 {
        let instrument: String? = measure.map { $0 == "standardised" ? "NGRT" : "Salford" }
        return try await db.query(
            """
            INSERT INTO provisions (school_id, provision_id, name, statutory, start_date, end_date, outcome_instrument,
                                    outcome_subject, outcome_measure, sessions_per_week, minutes_per_session, hourly_cost)
            VALUES ($1, $2, $2, $3, $4::date, $5::date, $6, $7, $8, 3, 30, 20) RETURNING id
            """, school, id, statutory, start, end, instrument, measure.map { _ in "reading" }, measure
        ).scalar(as: Int64.self)
    }

    func enrol(
        _ provision: Int64, _ pupil: Int64, start: String = "2025-09-15", end: String? = "2025-12-12", status: String? = "completed",
        entry: (Double, String)? = nil, exit: (Double, String)? = nil
    ) async throws {
        try await db.execute(
            """
            INSERT INTO enrolments (provision_id, pupil_id, start_date, end_date, status, entry_value, entry_date, exit_value, exit_date)
            VALUES ($1, $2, $3::date, $4::date, $5, $6, $7::date, $8, $9::date)
            """, provision, pupil, start, end, status, entry?.0, entry?.1, exit?.0, exit?.1)
    }

    /// Evaluates the trust; with `onHelper`, the pass over the results is read on more
    /// connections, as the daemon and the command line read it, and `onHelper` is called as
    /// each is opened.
    func evaluate(
        _ settings: Configuration.Evaluation = .init(), school: String? = nil, asOf: SchoolDate = asOf, full: Bool = false,
        onHelper: (@Sendable () -> Void)? = nil
    ) async throws -> EvaluationSummary {
        var evaluator = Evaluator(settings: settings)
        if let onHelper {
            let url = self.url
            evaluator.openHelper = {
                onHelper()
                return try await PostgresConnection.connect(url)
            }
        }
        return try await evaluator.run(db, school: school, asOf: asOf, full: full)
    }

    func outcome(_ run: Int64, pupil: Int64) async throws -> PostgresRow? {
        try await db.query(
            """
            SELECT o.entry_value::float8 AS entry, o.exit_value::float8 AS exit, o.gain::float8 AS gain,
                   o.ratio_gain::float8 AS ratio, o.months::float8 AS months, o.entry_source, o.exit_source,
                   o.progress_made, o.accelerated, o.gap_narrowed
              FROM enrolment_outcomes o JOIN enrolments e ON e.id = o.enrolment_id
             WHERE o.evaluation_run_id = $1 AND e.pupil_id = $2
            """, run, pupil
        ).singleRow()
    }

    func flags(_ run: Int64, _ rule: String) async throws -> [PostgresRow] {
        try await db.query(
            "SELECT subject_key, pupil_id, priority, reason, numbers::text AS numbers FROM evaluation_flags WHERE evaluation_run_id = $1 AND rule = $2 ORDER BY subject_key",
            run, rule
        ).rows
    }

    func verdict(_ run: Int64, provision: Int64) async throws -> String? {
        try await db.query(
            "SELECT verdict FROM provision_outcomes WHERE evaluation_run_id = $1 AND provision_id = $2", run, provision
        ).singleRow()?.decode("verdict", as: String.self)
    }
}
