import Foundation
import Postgres
import ProvisionAlerts
import ProvisionModel
import ProvisionReports

/// What a signed-in person can do, shared by the pages and the JSON API so both follow the
/// same rules: each action checks access, does the work and writes the audit log.
struct Actions {
    let console: Console

    /// The school's alerts (open ones unless `includeClosed`), most urgent first, with
    /// pupils' names.
    func alerts(_ visitor: Visitor, _ urn: String, includeClosed: Bool = false) async throws -> ([AlertListing], [String: String]) {
        try Access.require(visitor, .school(urn), among: console.schoolURNs)
        return try await console.db { db in
            let alerts = try await AlertListing.read(db, school: urn, includeClosed: includeClosed)
            let names = try await ConsoleQueries.pupilNames(db, upns: alerts.compactMap(\.upn))
            return (alerts, names)
        }
    }

    /// Answers alert `id`. Access is decided by the alert's own school, whatever URL it came
    /// through.
    func answer(
        _ visitor: Visitor, _ context: ConsoleContext, alert id: Int64, answer: AlertAnswers.Answer, note: String, until: String?
    ) async throws {
        let urn = try await console.db { db in
            try await db.query("SELECT s.urn FROM alerts a JOIN schools s ON s.id = a.school_id WHERE a.id = $1", id)
                .singleRow().map { try $0.decode("urn", as: String.self) }
        }
        guard let urn else { throw ConsoleError.notFound("alert \(id)") }
        try Access.require(visitor, .school(urn), among: console.schoolURNs)
        var day: SchoolDate?
        if answer == .snoozed {
            guard let text = until, let parsed = SchoolDate(iso: text) else {
                throw ConsoleError.badRequest("a snooze needs a date to come back (until, YYYY-MM-DD)")
            }
            day = parsed
        }
        let audit = console.auditing(visitor, context, "alert.\(answer.rawValue)", school: urn, subject: String(id), detail: ["note": note])
        do {
            try await console.db { db in
                try await AlertAnswers.record(db, alert: id, answer: answer, by: visitor.user.email, note: note, until: day, within: audit)
            }
        } catch let refusal as AlertAnswers.Refusal {
            throw ConsoleError(.unprocessableContent, refusal.description.replacingOccurrences(of: "--until", with: "until"))
        }
    }

    /// The school of pupil `upn`, checked against `visitor`'s access.
    func authorise(_ visitor: Visitor, pupil upn: String) async throws -> String {
        guard let urn = try await console.db({ try await ConsoleQueries.schoolOfPupil($0, upn: upn) }) else {
            // Unknown UPNs are refused the same way to anyone who may not see pupils at all.
            if visitor.user.role.seesPupils { throw ConsoleError.notFound("pupil \(upn)") }
            throw ConsoleError.forbidden("an IT admin account does not see pupil data")
        }
        try Access.require(visitor, .school(urn), among: console.schoolURNs)
        return urn
    }

    /// A pupil's page data; access by the pupil's school; the view is audited.
    func pupil(_ visitor: Visitor, _ context: ConsoleContext, upn: String) async throws -> (ConsoleQueries.Pupil, [AlertListing]) {
        let urn = try await authorise(visitor, pupil: upn)
        let result = try await console.db { db -> (ConsoleQueries.Pupil?, [AlertListing]) in
            let pupil = try await ConsoleQueries.pupil(db, upn: upn)
            let alerts = try await AlertListing.read(db, school: urn, includeClosed: true).filter { $0.upn == upn }
            return (pupil, alerts)
        }
        guard let pupil = result.0 else { throw ConsoleError.notFound("pupil \(upn)") }
        try await console.audit(visitor, context, "pupil.view", school: urn, subject: upn)
        return (pupil, result.1)
    }

    /// The school's provision map for `term`.
    func provisions(_ visitor: Visitor, _ urn: String, term: ReportTerm) async throws -> [ConsoleQueries.Provision] {
        try Access.require(visitor, .school(urn), among: console.schoolURNs)
        return try await console.db { try await ConsoleQueries.provisions($0, urn: urn, term: term) }
    }

    /// Adds a provision from `form` (the fields of docs/api.md).
    func addProvision(_ visitor: Visitor, _ context: ConsoleContext, _ urn: String, _ form: Form) async throws -> String {
        try Access.require(visitor, .school(urn), among: console.schoolURNs)
        let editor = ProvisionEditor(console: console, school: urn)
        let name = try form.required("name", "the provision's name")
        let id = form["provision_id"] ?? Self.identifier(for: name)
        guard try await editor.currentProvision(id) == nil else {
            throw ConsoleError(.conflict, "a provision with id \(id) exists already; give another id or change that one")
        }
        var record: [String: JSONValue] = [
            "type": .string("provision"), "school_urn": .string(urn), "provision_id": .string(id), "name": .string(name),
            "start_date": .string(form["start_date"] ?? SchoolDate.today().iso),
        ]
        record["end_date"] = FieldValue.text(form["end_date"])
        record["area_of_need"] = FieldValue.text(form["area_of_need"])
        record["delivery"] = FieldValue.text(form["delivery"])
        record["sessions_per_week"] = FieldValue.number(form["sessions_per_week"])
        record["minutes_per_session"] = FieldValue.number(form["minutes_per_session"])
        record["hourly_cost"] = FieldValue.number(form["hourly_cost"])
        record["statutory"] = form["statutory"].map { .bool($0 == "on" || $0 == "true" || $0 == "yes") }
        if let instrument = form["outcome_instrument"] {
            record["outcome"] = .object([
                "instrument": .string(instrument), "subject": .string(form["outcome_subject"] ?? "reading"),
                "measure": .string(form["outcome_measure"] ?? "standardised"),
            ])
        }
        try await editor.apply([record], audit: console.auditing(visitor, context, "provision.added", school: urn, subject: id, detail: ["name": name]))
        return id
    }

    /// Ends a provision on `form`'s end_date (default today).
    func endProvision(_ visitor: Visitor, _ context: ConsoleContext, _ urn: String, _ provisionID: String, _ form: Form) async throws {
        try Access.require(visitor, .school(urn), among: console.schoolURNs)
        let editor = ProvisionEditor(console: console, school: urn)
        guard var record = try await editor.currentProvision(provisionID) else { throw ConsoleError.notFound("provision \(provisionID)") }
        let day = form["end_date"] ?? SchoolDate.today().iso
        record["end_date"] = .string(day)
        try await editor.apply(
            [record], audit: console.auditing(visitor, context, "provision.ended", school: urn, subject: provisionID, detail: ["end_date": day]))
    }

    /// Enrols a pupil (`upn`, `start_date`, `status`, `entry_value`, `entry_date`).
    func enrol(_ visitor: Visitor, _ context: ConsoleContext, _ urn: String, _ provisionID: String, _ form: Form) async throws -> String {
        try Access.require(visitor, .school(urn), among: console.schoolURNs)
        let editor = ProvisionEditor(console: console, school: urn)
        guard try await editor.currentProvision(provisionID) != nil else { throw ConsoleError.notFound("provision \(provisionID)") }
        let upn = try form.required("upn", "the pupil's UPN").uppercased()
        var record: [String: JSONValue] = [
            "type": .string("enrolment"), "school_urn": .string(urn), "provision_id": .string(provisionID), "upn": .string(upn),
            "start_date": .string(form["start_date"] ?? SchoolDate.today().iso), "status": .string(form["status"] ?? "active"),
        ]
        if let value = FieldValue.number(form["entry_value"]) {
            record["entry"] = .object(["value": value, "date": .string(form["entry_date"] ?? form["start_date"] ?? SchoolDate.today().iso)])
        }
        record["target"] = FieldValue.text(form["target"])
        try await editor.apply(
            [record], audit: console.auditing(visitor, context, "enrolment.added", school: urn, subject: upn, detail: ["provision": provisionID]))
        return upn
    }

    /// Changes a pupil's enrolment: status, end date, entry or exit score. Fields not given
    /// keep their value; `status = withdrawn` takes the pupil out (the row is kept).
    func updateEnrolment(
        _ visitor: Visitor, _ context: ConsoleContext, _ urn: String, _ provisionID: String, upn: String, _ form: Form
    ) async throws {
        try Access.require(visitor, .school(urn), among: console.schoolURNs)
        let editor = ProvisionEditor(console: console, school: urn)
        guard var record = try await editor.currentEnrolment(provisionID, upn: upn) else {
            throw ConsoleError.notFound("an enrolment of \(upn) in \(provisionID)")
        }
        var changed: [String: String] = [:]
        if let status = form["status"] {
            record["status"] = .string(status)
            changed["status"] = status
            if (status == "completed" || status == "withdrawn") && record["end_date"] == nil && form["end_date"] == nil {
                record["end_date"] = .string(SchoolDate.today().iso)
            }
        }
        if let end = form["end_date"] {
            record["end_date"] = .string(end)
            changed["end_date"] = end
        }
        for side in ["entry", "exit"] {
            guard let value = FieldValue.number(form["\(side)_value"]) else { continue }
            let date = form["\(side)_date"] ?? SchoolDate.today().iso
            record[side] = .object(["value": value, "date": .string(date)])
            changed["\(side)_value"] = form["\(side)_value"]
        }
        guard !changed.isEmpty else { throw ConsoleError.badRequest("nothing to change: give status, end_date, entry_value or exit_value") }
        try await editor.apply(
            [record],
            audit: console.auditing(
                visitor, context, "enrolment.changed", school: urn, subject: upn, detail: changed.merging(["provision": provisionID]) { $1 }))
    }

    /// A provision id from its name: lower-case words joined by dashes, with the day, so a
    /// second "Lexia" next term does not collide.
    static func identifier(for name: String) -> String {
        let words = name.lowercased().split { !$0.isLetter && !$0.isNumber }.prefix(4).joined(separator: "-")
        return "c-\(words.isEmpty ? "provision" : words)-\(SchoolDate.today().iso)"
    }
}
