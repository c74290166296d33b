import Foundation
import Postgres
import ProvisionModel
import ProvisionPlans
import ProvisionReports

/// What the console's pages and API read, in SQL the console owns (reads only: changes go
/// through the alerts library and the import pipeline).
enum ConsoleQueries {
    struct SchoolFigures: Sendable {
        var onRoll = 0, senSupport = 0, ehcp = 0, openAlerts = 0, provisionsThisTerm = 0
    }

    static func figures(_ db: PostgresConnection, urn: String, term: ReportTerm) async throws -> SchoolFigures {
        guard let row = try await db.query(
            """
            SELECT (SELECT count(*) FROM pupils p WHERE p.school_id = s.id AND p.on_roll)::int AS on_roll,
                   (SELECT count(*) FROM pupils p WHERE p.school_id = s.id AND p.on_roll AND p.sen_provision = 'K')::int AS k,
                   (SELECT count(*) FROM pupils p WHERE p.school_id = s.id AND p.on_roll AND p.sen_provision = 'E')::int AS e,
                   (SELECT count(*) FROM alerts a WHERE a.school_id = s.id AND a.status = 'open')::int AS alerts,
                   (SELECT count(*) FROM provisions pr WHERE pr.school_id = s.id
                       AND coalesce(pr.start_date, $2::date) <= $3::date AND coalesce(pr.end_date, $2::date) >= $2::date)::int AS provisions
              FROM schools s WHERE s.urn = $1
            """, urn, term.start.iso, term.end.iso
        ).singleRow() else { return SchoolFigures() }
        return SchoolFigures(
            onRoll: try row.decode("on_roll"), senSupport: try row.decode("k"), ehcp: try row.decode("e"),
            openAlerts: try row.decode("alerts"), provisionsThisTerm: try row.decode("provisions"))
    }

    /// Names of pupils by UPN, for alerts that name a pupil by UPN only.
    static func pupilNames(_ db: PostgresConnection, upns: [String]) async throws -> [String: String] {
        guard !upns.isEmpty else { return [:] }
        var names: [String: String] = [:]
        for row in try await db.query("SELECT upn, forename || ' ' || surname AS name FROM pupils WHERE upn = ANY($1::text[])", upns).rows {
            names[try row.decode("upn")] = try row.decode("name")
        }
        return names
    }

    struct Enrolment: Sendable {
        var upn: String, name: String, yearGroup: String?
        var status: String?, start: String, end: String?
        var entry: Double?, entryDate: String?, exit: Double?, exitDate: String?
        var editedInConsole: Bool
        /// What the latest evaluation took as entry and exit (the recorded score, or the
        /// nearest assessment), and the months between them.
        var evaluatedEntry: Double? = nil, evaluatedExit: Double? = nil, months: Double? = nil

        var json: JSONValue {
            func text(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
            func number(_ value: Double?) -> JSONValue { value.map(JSONValue.number) ?? .null }
            return .object([
                "upn": .string(upn), "name": .string(name), "year_group": text(yearGroup), "status": text(status),
                "start_date": .string(start), "end_date": text(end), "entry": number(entry), "entry_date": text(entryDate),
                "exit": number(exit), "exit_date": text(exitDate), "edited_in_console": .bool(editedInConsole),
                "evaluated_entry": number(evaluatedEntry), "evaluated_exit": number(evaluatedExit),
            ])
        }
    }

    struct Provision: Sendable {
        var provisionID: String, name: String, areaOfNeed: String?, statutory: Bool
        var start: String?, end: String?, sessionsPerWeek: Double?, minutesPerSession: Int?, hourlyCost: Double?
        var measure: String?, editedInConsole: Bool
        var enrolments: [Enrolment] = []

        var json: JSONValue {
            func text(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
            func number(_ value: Double?) -> JSONValue { value.map(JSONValue.number) ?? .null }
            return .object([
                "provision_id": .string(provisionID), "name": .string(name), "area_of_need": text(areaOfNeed),
                "statutory": .bool(statutory), "start_date": text(start), "end_date": text(end),
                "sessions_per_week": number(sessionsPerWeek), "minutes_per_session": number(minutesPerSession.map(Double.init)),
                "hourly_cost": number(hourlyCost), "outcome_measure": text(measure), "edited_in_console": .bool(editedInConsole),
                "pupils": .array(enrolments.map(\.json)),
            ])
        }
    }

    /// The school's provisions overlapping `term`, each with its pupils.
    static func provisions(_ db: PostgresConnection, urn: String, term: ReportTerm) async throws -> [Provision] {
        let rows = try await db.query(
            """
            SELECT \(provisionColumns)
              FROM provisions pr JOIN schools s ON s.id = pr.school_id
             WHERE s.urn = $1 AND coalesce(pr.start_date, $2::date) <= $3::date AND coalesce(pr.end_date, $2::date) >= $2::date
             ORDER BY pr.area_of_need NULLS LAST, pr.name, pr.provision_id
            """, urn, term.start.iso, term.end.iso)
        var provisions: [Int64: Provision] = [:]
        var order: [Int64] = []
        for row in rows.rows {
            let id: Int64 = try row.decode("id")
            order.append(id)
            provisions[id] = try provision(row)
        }
        guard !order.isEmpty else { return [] }
        let enrolments = try await db.query(
            """
            SELECT e.provision_id, \(enrolmentColumns)
              FROM enrolments e JOIN pupils p ON p.id = e.pupil_id
             WHERE e.provision_id = ANY($1::bigint[])
             ORDER BY p.surname, p.forename, e.start_date
            """, order.map(String.init))
        for row in enrolments.rows {
            let id: Int64 = try row.decode("provision_id")
            provisions[id]?.enrolments.append(try enrolment(row))
        }
        return order.compactMap { provisions[$0] }
    }

    static let provisionColumns = """
        pr.id, pr.provision_id, pr.name, pr.area_of_need, pr.statutory, pr.start_date::text AS start_date,
        pr.end_date::text AS end_date, pr.sessions_per_week::float8 AS sessions, pr.minutes_per_session,
        pr.hourly_cost::float8 AS hourly_cost, pr.outcome_measure, pr.edited_in_console IS NOT NULL AS edited
        """

    static func provision(_ row: PostgresRow) throws -> Provision {
        Provision(
            provisionID: try row.decode("provision_id"), name: try row.decode("name"), areaOfNeed: try row.decode("area_of_need"),
            statutory: try row.decode("statutory"), start: try row.decode("start_date"), end: try row.decode("end_date"),
            sessionsPerWeek: try row.decode("sessions"), minutesPerSession: try row.decode("minutes_per_session"),
            hourlyCost: try row.decode("hourly_cost"), measure: try row.decode("outcome_measure"), editedInConsole: try row.decode("edited"))
    }

    /// An enrolment's columns, with the latest evaluation's entry and exit (found from the
    /// recorded scores or the assessments around the dates) beside the recorded ones.
    static let enrolmentColumns = """
        p.upn, p.forename || ' ' || p.surname AS name, p.year_group, e.status, e.start_date::text AS start_date,
        e.end_date::text AS end_date, e.entry_value::float8 AS entry, e.entry_date::text AS entry_date,
        e.exit_value::float8 AS exit, e.exit_date::text AS exit_date, e.edited_in_console IS NOT NULL AS edited,
        (SELECT jsonb_build_object('entry', o.entry_value, 'exit', o.exit_value, 'months', o.months)::text
           FROM enrolment_outcomes o WHERE o.enrolment_id = e.id ORDER BY o.evaluation_run_id DESC LIMIT 1) AS evaluated
        """

    static func enrolment(_ row: PostgresRow) throws -> Enrolment {
        var enrolment = Enrolment(
            upn: try row.decode("upn"), name: try row.decode("name"), yearGroup: try row.decode("year_group"),
            status: try row.decode("status"), start: try row.decode("start_date"), end: try row.decode("end_date"),
            entry: try row.decode("entry"), entryDate: try row.decode("entry_date"), exit: try row.decode("exit"),
            exitDate: try row.decode("exit_date"), editedInConsole: try row.decode("edited"))
        if let text = try row.decode("evaluated", as: String?.self), case .object(let fields) = try JSONValue.parse(Array(text.utf8)) {
            if case .number(let value) = fields["entry"] ?? .null { enrolment.evaluatedEntry = value }
            if case .number(let value) = fields["exit"] ?? .null { enrolment.evaluatedExit = value }
            if case .number(let value) = fields["months"] ?? .null { enrolment.months = value }
        }
        return enrolment
    }

    /// The school's pupils on roll on the SEN register (K or E), for the enrol form.
    static func senRegister(_ db: PostgresConnection, urn: String) async throws -> [(upn: String, name: String)] {
        try await db.query(
            """
            SELECT p.upn, p.surname || ', ' || p.forename AS name FROM pupils p JOIN schools s ON s.id = p.school_id
             WHERE s.urn = $1 AND p.on_roll AND p.sen_provision IN ('K', 'E') ORDER BY p.surname, p.forename
            """, urn
        ).rows.map { (try $0.decode("upn"), try $0.decode("name")) }
    }

    /// The school a pupil is (or was last) at; nil for an unknown UPN.
    static func schoolOfPupil(_ db: PostgresConnection, upn: String) async throws -> String? {
        try await db.query("SELECT s.urn FROM pupils p JOIN schools s ON s.id = p.school_id WHERE p.upn = $1", upn)
            .singleRow().map { try $0.decode("urn") }
    }

    struct Pupil: Sendable {
        var upn: String, name: String, schoolURN: String, yearGroup: String?, senStatus: String, needs: [String], onRoll: Bool
        var history: [(provisionID: String, provision: String, enrolment: Enrolment, measure: String?)] = []
        var assessments: [(instrument: String, subject: String, measure: String, value: Double, date: SchoolDate)] = []
    }

    static func pupil(_ db: PostgresConnection, upn: String) async throws -> Pupil? {
        guard let row = try await db.query(
            """
            SELECT p.id, p.upn, p.forename || ' ' || p.surname AS name, s.urn, p.year_group, p.sen_provision, p.on_roll,
                   coalesce((SELECT string_agg(n.code, ',' ORDER BY n.rank) FROM pupil_needs n WHERE n.pupil_id = p.id), '') AS needs
              FROM pupils p JOIN schools s ON s.id = p.school_id WHERE p.upn = $1
            """, upn
        ).singleRow() else { return nil }
        let id: Int64 = try row.decode("id")
        let sen: String = try row.decode("sen_provision")
        var pupil = Pupil(
            upn: upn, name: try row.decode("name"), schoolURN: try row.decode("urn"), yearGroup: try row.decode("year_group"),
            senStatus: ["K": "SEN support", "E": "EHC plan"][sen] ?? "no SEN recorded",
            needs: try row.decode("needs", as: String.self).split(separator: ",").map(String.init), onRoll: try row.decode("on_roll"))
        for row in try await db.query(
            """
            SELECT pr.provision_id AS local_id, pr.name AS provision, pr.outcome_measure, \(enrolmentColumns)
              FROM enrolments e JOIN pupils p ON p.id = e.pupil_id JOIN provisions pr ON pr.id = e.provision_id
             WHERE e.pupil_id = $1 ORDER BY e.start_date, pr.name
            """, id
        ).rows {
            pupil.history.append((try row.decode("local_id"), try row.decode("provision"), try enrolment(row), try row.decode("outcome_measure")))
        }
        for row in try await db.query(
            """
            SELECT instrument, subject, measure, value::float8 AS value, assessed_on::text AS day
              FROM assessments WHERE pupil_id = $1 ORDER BY assessed_on
            """, id
        ).rows {
            guard let day = SchoolDate(iso: try row.decode("day")) else { continue }
            pupil.assessments.append((try row.decode("instrument"), try row.decode("subject"), try row.decode("measure"), try row.decode("value"), day))
        }
        return pupil
    }

    struct Outcome: Sendable {
        var verdict: String, n: Int, measure: String, effect: Double?, low: Double?, high: Double?
        var valueAdded: Double?, valueAddedLow: Double?, valueAddedHigh: Double?, valueAddedN: Int
        var costTotal: Double?, costPerPupil: Double?, asOf: String
    }

    /// The latest evaluated outcome of a school's provision, if any.
    static func outcome(_ db: PostgresConnection, urn: String, provisionID: String) async throws -> Outcome? {
        guard let row = try await db.query(
            """
            SELECT o.verdict, o.n, o.measure, o.effect::float8 AS effect, o.ci_low::float8 AS low, o.ci_high::float8 AS high,
                   o.value_added::float8 AS va, o.value_added_low::float8 AS va_low, o.value_added_high::float8 AS va_high,
                   o.value_added_n, o.cost_total::float8 AS cost_total, o.cost_per_pupil::float8 AS cost_per_pupil,
                   r.as_of::text AS as_of
              FROM provision_outcomes o JOIN provisions pr ON pr.id = o.provision_id JOIN schools s ON s.id = pr.school_id
              JOIN evaluation_runs r ON r.id = o.evaluation_run_id
             WHERE s.urn = $1 AND pr.provision_id = $2 AND r.status = 'succeeded'
             ORDER BY o.evaluation_run_id DESC LIMIT 1
            """, urn, provisionID
        ).singleRow() else { return nil }
        return Outcome(
            verdict: try row.decode("verdict"), n: try row.decode("n"), measure: try row.decode("measure"),
            effect: try row.decode("effect"), low: try row.decode("low"), high: try row.decode("high"),
            valueAdded: try row.decode("va"), valueAddedLow: try row.decode("va_low"), valueAddedHigh: try row.decode("va_high"),
            valueAddedN: try row.decode("value_added_n"), costTotal: try row.decode("cost_total"),
            costPerPupil: try row.decode("cost_per_pupil"), asOf: try row.decode("as_of"))
    }

    /// One provision of a school with every pupil it has had.
    static func provision(_ db: PostgresConnection, urn: String, provisionID: String) async throws -> Provision? {
        guard let row = try await db.query(
            """
            SELECT \(provisionColumns)
              FROM provisions pr JOIN schools s ON s.id = pr.school_id WHERE s.urn = $1 AND pr.provision_id = $2
            """, urn, provisionID
        ).singleRow() else { return nil }
        var provision = try self.provision(row)
        provision.enrolments = try await db.query(
            """
            SELECT \(enrolmentColumns) FROM enrolments e JOIN pupils p ON p.id = e.pupil_id
             WHERE e.provision_id = $1 ORDER BY p.surname, p.forename, e.start_date
            """, try row.decode("id", as: Int64.self)
        ).rows.map(enrolment)
        return provision
    }

    /// The group plans of a school's provision.
    static func groupPlans(_ db: PostgresConnection, urn: String, provisionID: String) async throws -> [Plan] {
        let ids = try await db.query(
            """
            SELECT sp.id FROM support_plans sp JOIN provisions pr ON pr.id = sp.provision_id JOIN schools s ON s.id = pr.school_id
             WHERE s.urn = $1 AND pr.provision_id = $2 ORDER BY sp.id
            """, urn, provisionID
        ).rows.map { try $0.decode("id", as: Int64.self) }
        var plans: [Plan] = []
        for id in ids { if let plan = try await Plans.read(db, plan: id) { plans.append(plan) } }
        return plans
    }

    /// Each configured school's figures, for the trust dashboard.
    static func trustFigures(_ db: PostgresConnection, urns: [String], term: ReportTerm) async throws -> [String: SchoolFigures] {
        var figures: [String: SchoolFigures] = [:]
        for urn in urns { figures[urn] = try await self.figures(db, urn: urn, term: term) }
        return figures
    }

    /// Programme verdicts across the trust from the latest trust-wide evaluation.
    static func programmes(_ db: PostgresConnection) async throws -> [(name: String, n: Int, verdict: String, effect: Double?)] {
        try await db.query(
            """
            SELECT o.name, o.n, o.verdict, o.effect::float8 AS effect FROM provision_outcomes o
             WHERE o.provision_id IS NULL
               AND o.evaluation_run_id = (SELECT max(id) FROM evaluation_runs WHERE status = 'succeeded' AND school_id IS NULL)
             ORDER BY o.name
            """
        ).rows.map { (try $0.decode("name"), try $0.decode("n"), try $0.decode("verdict"), try $0.decode("effect")) }
    }
}
