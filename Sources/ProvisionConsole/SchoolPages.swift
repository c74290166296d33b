import Foundation
import Hummingbird
import ProvisionAlerts
import ProvisionConfig
import ProvisionModel
import ProvisionPlans
import ProvisionReports

/// The SENCO's pages: the school's dashboard (alerts to answer), the provision map and its
/// editing, a provision's page, a pupil's page and the school's reports.
struct SchoolPages {
    let console: Console
    var actions: Actions { Actions(console: console) }

    func add(to router: Router<ConsoleContext>) {
        router.get("/") { _, context -> Response in
            let visitor = try context.signedIn()
            let user = visitor.user
            if Access.allows(user, .wholeTrust) { return Reply.redirect("/trust") }
            if let first = Access.schools(of: user, among: console.schoolURNs).first { return Reply.redirect("/schools/\(first)") }
            if Access.allows(user, .operations) { return Reply.redirect("/operations") }
            throw ConsoleError.forbidden("this account has no school in this trust's configuration")
        }
        router.get("schools/:urn") { _, context in try await dashboard(context) }
        router.post("schools/:urn/alerts/:id") { request, context in try await answer(request, context) }
        router.get("schools/:urn/provisions") { request, context in try await provisionMap(request, context) }
        router.post("schools/:urn/provisions") { request, context -> Response in
            let visitor = try context.signedIn()
            let urn = try context.parameters.require("urn")
            let id = try await actions.addProvision(visitor, context, urn, try await Form.read(request))
            return Reply.redirect("/schools/\(urn)/provisions/\(id.urlPathEncoded)")
        }
        router.get("schools/:urn/provisions/:provision") { _, context in try await intervention(context) }
        router.post("schools/:urn/provisions/:provision/end") { request, context -> Response in
            let (visitor, urn, provision) = try provisionParameters(context)
            try await actions.endProvision(visitor, context, urn, provision, try await Form.read(request))
            return Reply.redirect("/schools/\(urn)/provisions/\(provision.urlPathEncoded)")
        }
        router.post("schools/:urn/provisions/:provision/pupils") { request, context -> Response in
            let (visitor, urn, provision) = try provisionParameters(context)
            _ = try await actions.enrol(visitor, context, urn, provision, try await Form.read(request))
            return Reply.redirect("/schools/\(urn)/provisions/\(provision.urlPathEncoded)")
        }
        router.post("schools/:urn/provisions/:provision/pupils/:upn") { request, context -> Response in
            let (visitor, urn, provision) = try provisionParameters(context)
            let upn = try context.parameters.require("upn")
            try await actions.updateEnrolment(visitor, context, urn, provision, upn: upn, try await Form.read(request))
            return Reply.redirect("/schools/\(urn)/provisions/\(provision.urlPathEncoded)")
        }
        router.get("schools/:urn/reports/:kind") { request, context in try await report(request, context) }
        router.get("pupils/:upn") { request, context in try await pupilPage(request, context) }
    }

    private func provisionParameters(_ context: ConsoleContext) throws -> (Visitor, String, String) {
        (try context.signedIn(), try context.parameters.require("urn"), try context.parameters.require("provision"))
    }

    private func dashboard(_ context: ConsoleContext) async throws -> Response {
        let visitor = try context.signedIn()
        let urn = try context.parameters.require("urn")
        let (alerts, names) = try await actions.alerts(visitor, urn)
        let term = ReportTerm(containing: SchoolDate.today())
        let figures = try await console.db { try await ConsoleQueries.figures($0, urn: urn, term: term) }
        let items: [[String: Any]] = alerts.map { alert in
            var item: [String: Any] = [
                "id": alert.id, "rule": alert.rule.replacingOccurrences(of: "_", with: " "), "reason": alert.reason,
                "opened": String(alert.openedAt.prefix(10)), "priority": alert.priority,
                "has_actions": !alert.actions.isEmpty, "actions": alert.actions.map(Self.actionValues),
            ]
            // Mustache shows a section for any value present, so absent ones are left out.
            if let answer = alert.answer { item["answer"] = answer }
            if let until = alert.snoozedUntil { item["snoozed_until"] = until }
            if let upn = alert.upn { item["pupil"] = ["upn": upn, "name": names[upn] ?? upn] }
            if let provision = alert.provisionID { item["provision"] = ["id": provision, "path": provision.urlPathEncoded] }
            return item
        }
        return console.pages.render(
            "school", title: console.schoolName(urn), visitor: visitor, console: console,
            values: [
                "urn": urn, "name": console.schoolName(urn), "term": term.title, "alerts": items, "count": alerts.count,
                "csrf": visitor.csrfToken ?? "", "tomorrow": SchoolDate(daysSince1970: SchoolDate.today().daysSince1970 + 1).iso,
                "figures": [
                    "on_roll": figures.onRoll, "sen_support": figures.senSupport, "ehcp": figures.ehcp,
                    "provisions": figures.provisionsThisTerm,
                ],
            ])
    }

    private func answer(_ request: Request, _ context: ConsoleContext) async throws -> Response {
        let visitor = try context.signedIn()
        let urn = try context.parameters.require("urn")
        guard let id = Int64(try context.parameters.require("id")) else { throw ConsoleError.notFound("that alert") }
        let form = try await Form.read(request)
        guard let answer = AlertAnswers.Answer(rawValue: form["answer"] ?? "") else {
            throw ConsoleError.badRequest("answer must be acknowledged, snoozed or dismissed")
        }
        try await actions.answer(visitor, context, alert: id, answer: answer, note: form["note"] ?? "", until: form["until"])
        return Reply.redirect("/schools/\(urn)")
    }

    static func term(_ request: Request) throws -> ReportTerm {
        guard let text = request.uri.queryParameters["term"].map(String.init) else { return ReportTerm(containing: SchoolDate.today()) }
        guard let term = ReportTerm(text) else { throw ConsoleError.badRequest("term must look like 2026-autumn, got '\(text.prefix(40))'") }
        return term
    }

    private func provisionMap(_ request: Request, _ context: ConsoleContext) async throws -> Response {
        let visitor = try context.signedIn()
        let urn = try context.parameters.require("urn")
        let term = try Self.term(request)
        let provisions = try await actions.provisions(visitor, urn, term: term)
        let register = try await console.db { try await ConsoleQueries.senRegister($0, urn: urn) }
        let rows: [[String: Any]] = provisions.map { provision in
            [
                "id": provision.provisionID, "path": provision.provisionID.urlPathEncoded, "name": provision.name,
                "area": provision.areaOfNeed ?? "–", "start": provision.start ?? "–", "end": provision.end ?? "ongoing",
                "statutory": provision.statutory, "edited": provision.editedInConsole, "count": provision.enrolments.count,
                "pupils": provision.enrolments.map(Self.enrolmentValues), "has_pupils": !provision.enrolments.isEmpty,
            ]
        }
        let seasons = ReportTerm.Season.allCases.map { season in
            ReportTerm(year: term.year, season: season)
        }
        return console.pages.render(
            "provisions", title: "Provision map — \(console.schoolName(urn))", visitor: visitor, console: console,
            values: [
                "urn": urn, "name": console.schoolName(urn), "term": term.title, "term_id": term.description,
                "terms": seasons.map { ["id": $0.description, "title": $0.title, "current": $0 == term] },
                "provisions": rows, "empty": rows.isEmpty, "csrf": visitor.csrfToken ?? "", "today": SchoolDate.today().iso,
                "register": register.map { ["upn": $0.upn, "name": $0.name] },
            ])
    }

    /// The "start a plan" form's values: blank, or from the chosen template.
    static func planStart(_ id: String?) -> [String: Any] {
        let template = PlanTemplate.all.first { $0.id == id }
        return [
            "needs": template?.needs ?? "", "strategies": template?.strategies ?? "",
            "targets": (1...3).map { n -> [String: Any] in
                let target = template.flatMap { n <= $0.targets.count ? $0.targets[n - 1] : nil }
                return ["n": n, "description": target?.description ?? "", "measured_by": target?.measuredBy ?? ""]
            },
        ]
    }

    static func planSummary(_ plan: Plan, today: SchoolDate) -> [String: Any] {
        var values: [String: Any] = ["id": plan.id, "title": plan.title, "version": plan.current?.number ?? 0]
        if let next = plan.current?.nextReview {
            values["next_review"] = next.iso
            if next < today { values["overdue"] = true }
        }
        return values
    }

    static func actionValues(_ action: AlertAnswers.Action) -> [String: Any] {
        var values: [String: Any] = ["action": action.action, "by": action.by, "note": action.note ?? ""]
        if let until = action.until { values["until"] = until.iso }
        return values
    }

    static func enrolmentValues(_ enrolment: ConsoleQueries.Enrolment) -> [String: Any] {
        [
            "upn": enrolment.upn, "name": enrolment.name, "status": enrolment.status ?? "–", "start": enrolment.start,
            "end": enrolment.end ?? "", "entry": Show.score(recorded: enrolment.entry, evaluated: enrolment.evaluatedEntry),
            "entry_date": enrolment.entryDate ?? "", "exit": Show.score(recorded: enrolment.exit, evaluated: enrolment.evaluatedExit),
            "exit_date": enrolment.exitDate ?? "", "edited": enrolment.editedInConsole,
            "open": enrolment.status != "completed" && enrolment.status != "withdrawn",
        ]
    }

    private func intervention(_ context: ConsoleContext) async throws -> Response {
        let (visitor, urn, provisionID) = try provisionParameters(context)
        try Access.require(visitor, .school(urn), among: console.schoolURNs)
        let (provision, outcome) = try await console.db { db in
            (try await ConsoleQueries.provision(db, urn: urn, provisionID: provisionID),
             try await ConsoleQueries.outcome(db, urn: urn, provisionID: provisionID))
        }
        guard let provision else { throw ConsoleError.notFound("provision \(provisionID)") }
        // As the impact report draws it: the evaluation's entry and exit for each pupil.
        let points = provision.enrolments.compactMap { enrolment -> Charts.EntryExit? in
            guard let entry = enrolment.evaluatedEntry, let exit = enrolment.evaluatedExit else { return nil }
            return Charts.EntryExit(entry: entry, exit: exit, months: enrolment.months ?? 0)
        }
        var values: [String: Any] = [
            "urn": urn, "school": console.schoolName(urn), "id": provision.provisionID, "path": provision.provisionID.urlPathEncoded,
            "name": provision.name, "area": provision.areaOfNeed ?? "–", "start": provision.start ?? "–",
            "end": provision.end ?? "", "ongoing": provision.end == nil, "statutory": provision.statutory,
            "sessions": Show.number(provision.sessionsPerWeek), "minutes": provision.minutesPerSession.map(String.init) ?? "–",
            "hourly_cost": Show.pounds(provision.hourlyCost), "edited": provision.editedInConsole,
            "pupils": provision.enrolments.map(Self.enrolmentValues), "csrf": visitor.csrfToken ?? "", "today": SchoolDate.today().iso,
        ]
        if !points.isEmpty {
            values["chart"] = Charts.entryExit(points, measure: provision.measure ?? "standardised", label: "Entry and exit: \(provision.name)")
        }
        let plans = try await console.db { db in
            try await ConsoleQueries.groupPlans(db, urn: urn, provisionID: provisionID)
        }
        let active = provision.enrolments.filter { $0.status == "active" }
        values["plans"] = plans.map { Self.planSummary($0, today: SchoolDate.today()) }
        values["has_active"] = !active.isEmpty
        values["active"] = active.enumerated().map { ["n": $0.offset + 1, "upn": $0.element.upn, "name": $0.element.name] }
        if let outcome {
            values["outcome"] = [
                "verdict": outcome.verdict.replacingOccurrences(of: "_", with: " "), "n": outcome.n, "as_of": outcome.asOf,
                "reasons": Show.reasons(outcome), "cost_total": Show.pounds(outcome.costTotal), "cost_per_pupil": Show.pounds(outcome.costPerPupil),
            ]
        }
        return console.pages.render("intervention", title: provision.name, visitor: visitor, console: console, values: values)
    }

    private func pupilPage(_ request: Request, _ context: ConsoleContext) async throws -> Response {
        let visitor = try context.signedIn()
        let upn = try context.parameters.require("upn")
        let (pupil, alerts) = try await actions.pupil(visitor, context, upn: upn)
        let plans = try await console.db { try await Plans.forPupil($0, upn: upn) }
        let today = SchoolDate.today()
        let grouped = Dictionary(grouping: pupil.assessments) { "\($0.instrument) \($0.subject)|\($0.measure)" }
        let byMeasure = Dictionary(grouping: grouped.keys.sorted()) { $0.split(separator: "|").last.map(String.init) ?? "" }
        let charts: [[String: Any]] = byMeasure.keys.sorted().map { measure in
            let series = (byMeasure[measure] ?? []).map { key in
                Charts.Series(
                    name: String(key.split(separator: "|").first ?? ""),
                    points: (grouped[key] ?? []).map { (date: $0.date, value: $0.value) })
            }
            let heading = Show.measure(measure)
            return ["heading": heading, "svg": Charts.resultsOverTime(series, label: "\(pupil.name): \(heading) over time")]
        }
        return console.pages.render(
            "pupil", title: pupil.name, visitor: visitor, console: console,
            values: [
                "name": pupil.name, "upn": pupil.upn, "urn": pupil.schoolURN, "school": console.schoolName(pupil.schoolURN),
                "year": pupil.yearGroup ?? "–", "sen": pupil.senStatus, "needs": pupil.needs.isEmpty ? "none recorded" : pupil.needs.joined(separator: ", "),
                "on_roll": pupil.onRoll, "charts": charts, "has_history": !pupil.history.isEmpty,
                "csrf": visitor.csrfToken ?? "", "plans": plans.map { Self.planSummary($0, today: today) },
                "templates": PlanTemplate.all.map { ["id": $0.id, "title": $0.title] },
                "start": Self.planStart(request.uri.queryParameters["template"].map(String.init)),
                "open_start": request.uri.queryParameters["template"] != nil,
                "active": pupil.history.filter { $0.enrolment.status == "active" }.map { ["id": $0.provisionID, "name": $0.provision] },
                "history": pupil.history.map { item -> [String: Any] in
                    var values = Self.enrolmentValues(item.enrolment)
                    values["provision"] = item.provision
                    values["path"] = item.provisionID.urlPathEncoded
                    return values
                },
                "alerts": alerts.map { alert -> [String: Any] in
                    [
                        "rule": alert.rule.replacingOccurrences(of: "_", with: " "), "status": alert.status, "reason": alert.reason,
                        "opened": String(alert.openedAt.prefix(10)),
                        "has_actions": !alert.actions.isEmpty, "actions": alert.actions.map(Self.actionValues),
                    ]
                },
            ])
    }

    private func report(_ request: Request, _ context: ConsoleContext) async throws -> Response {
        let visitor = try context.signedIn()
        let urn = try context.parameters.require("urn")
        try Access.require(visitor, .school(urn), among: console.schoolURNs)
        guard let kind = ReportKind(rawValue: try context.parameters.require("kind")), kind != .pupil, kind != .trust else {
            throw ConsoleError.notFound("that report (provision-map, impact, needs or costs)")
        }
        let term = try Self.term(request)
        let report = try await console.db { db in
            try await Reports.build(ReportRequest(kind: kind, school: urn, term: term), db: db, config: console.configuration())
        }
        try await console.audit(visitor, context, "report.view", school: urn, subject: kind.rawValue)
        return Reply.document(report.rendered(.html))
    }
}

/// Numbers and words as the pages show them.
enum Show {
    static func number(_ value: Double?) -> String {
        guard let value else { return "" }
        return value.rounded() == value ? String(Int(value)) : String(format: "%.1f", value)
    }

    /// The recorded score, else the evaluation's (from the assessments) marked with "≈".
    static func score(recorded: Double?, evaluated: Double?) -> String {
        if let recorded { return number(recorded) }
        return evaluated.map { "≈" + number($0) } ?? ""
    }

    static func pounds(_ value: Double?) -> String {
        guard let value else { return "–" }
        return "£" + Int(value.rounded()).groupedDigits
    }

    static func measure(_ measure: String) -> String {
        ["age_months": "reading or spelling age (months)", "standardised": "standardised score", "scaled": "scaled score",
         "raw": "raw score", "steps": "steps"][measure] ?? measure
    }

    /// Why the evaluation reached its verdict, in sentences.
    static func reasons(_ outcome: ConsoleQueries.Outcome) -> [String] {
        var reasons = ["\(outcome.n) pupil(s) with entry and exit results (evaluated \(outcome.asOf))."]
        let unit = outcome.measure == "age_months" ? "ratio gain" : "mean change"
        if let effect = outcome.effect {
            var sentence = "\(unit.capitalized) \(String(format: "%.2f", effect))"
            if let low = outcome.low, let high = outcome.high {
                sentence += " (95% interval \(String(format: "%.2f", low)) to \(String(format: "%.2f", high)))"
            }
            reasons.append(sentence + ".")
        }
        if let va = outcome.valueAdded, outcome.valueAddedN > 0 {
            var sentence = "Value added beyond each pupil's own prediction: \(String(format: "%.2f", va))"
            if let low = outcome.valueAddedLow, let high = outcome.valueAddedHigh {
                sentence += " (\(String(format: "%.2f", low)) to \(String(format: "%.2f", high)))"
            }
            reasons.append(sentence + ", from \(outcome.valueAddedN) pupil(s).")
        }
        switch outcome.verdict {
        case "insufficient_data": reasons.append("Too few pupils with entry and exit data for a verdict.")
        case "inconclusive": reasons.append("The interval is too wide to say whether it works: more pupils or more time are needed.")
        case "ineffective": reasons.append("Even the upper end of the interval is below what is worthwhile.")
        case "effective": reasons.append("The lower end of the interval clears what is worthwhile.")
        default: break
        }
        return reasons
    }
}

extension String {
    /// The text as one URL path segment.
    var urlPathEncoded: String {
        addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? self
    }
}
