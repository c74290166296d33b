import Foundation
import Hummingbird
import ProvisionAlerts
import ProvisionModel
import ProvisionReports

/// The JSON API under `/api/v1` (docs/api.md): the same reads and actions as the pages,
/// through ``Actions``, so the same rules apply. A cookie session must send `X-CSRF-Token`
/// with every change; `Authorization: Bearer TOKEN` needs none.
struct APIRoutes {
    let console: Console
    var actions: Actions { Actions(console: console) }

    func add(to router: Router<ConsoleContext>) {
        let api = router.group("api/v1")
        api.get("session") { _, context -> Response in
            let visitor = try context.signedIn()
            let user = visitor.user
            return Reply.json(.object([
                "email": .string(user.email), "role": .string(user.role.rawValue),
                "schools": .array(Access.schools(of: user, among: console.schoolURNs).map(JSONValue.string)),
                "csrf_token": visitor.csrfToken.map(JSONValue.string) ?? .null,
            ]))
        }
        api.get("schools/:urn/alerts") { request, context -> Response in
            let visitor = try context.signedIn()
            let all = request.uri.queryParameters["all"] == "true"
            let (alerts, names) = try await actions.alerts(visitor, try context.parameters.require("urn"), includeClosed: all)
            return Reply.json(.array(alerts.map { Self.json($0, names: names) }))
        }
        api.post("alerts/:id/:answer") { request, context -> Response in
            let visitor = try context.signedIn()
            guard let id = Int64(try context.parameters.require("id")) else { throw ConsoleError.notFound("that alert") }
            let answers: [String: AlertAnswers.Answer] = ["acknowledge": .acknowledged, "snooze": .snoozed, "dismiss": .dismissed]
            guard let answer = answers[try context.parameters.require("answer")] else {
                throw ConsoleError.notFound("that action (acknowledge, snooze or dismiss)")
            }
            let body = try await Self.body(request)
            try await actions.answer(visitor, context, alert: id, answer: answer, note: body["note"] ?? "", until: body["until"])
            return Reply.json(.object(["id": .number(Double(id)), "answer": .string(answer.rawValue)]))
        }
        api.get("schools/:urn/provisions") { request, context -> Response in
            let visitor = try context.signedIn()
            let term = try SchoolPages.term(request)
            let provisions = try await actions.provisions(visitor, try context.parameters.require("urn"), term: term)
            return Reply.json(.object(["term": .string(term.description), "provisions": .array(provisions.map(\.json))]))
        }
        api.post("schools/:urn/provisions") { request, context -> Response in
            let visitor = try context.signedIn()
            let id = try await actions.addProvision(visitor, context, try context.parameters.require("urn"), try await Self.body(request))
            return Reply.json(.object(["provision_id": .string(id)]), status: .created)
        }
        api.get("schools/:urn/provisions/:provision") { _, context -> Response in
            let visitor = try context.signedIn()
            let urn = try context.parameters.require("urn"), id = try context.parameters.require("provision")
            try Access.require(visitor, .school(urn), among: console.schoolURNs)
            let (provision, outcome) = try await console.db { db in
                (try await ConsoleQueries.provision(db, urn: urn, provisionID: id), try await ConsoleQueries.outcome(db, urn: urn, provisionID: id))
            }
            guard let provision, case .object(var fields) = provision.json else { throw ConsoleError.notFound("provision \(id)") }
            fields["outcome"] = outcome.map { outcome in
                .object([
                    "verdict": .string(outcome.verdict), "n": .number(Double(outcome.n)), "measure": .string(outcome.measure),
                    "effect": outcome.effect.map(JSONValue.number) ?? .null, "reasons": .array(Show.reasons(outcome).map(JSONValue.string)),
                    "cost_total": outcome.costTotal.map(JSONValue.number) ?? .null,
                ])
            } ?? .null
            return Reply.json(.object(fields))
        }
        api.post("schools/:urn/provisions/:provision/end") { request, context -> Response in
            let visitor = try context.signedIn()
            let urn = try context.parameters.require("urn"), id = try context.parameters.require("provision")
            try await actions.endProvision(visitor, context, urn, id, try await Self.body(request))
            return Reply.json(.object(["provision_id": .string(id), "ended": .bool(true)]))
        }
        api.post("schools/:urn/provisions/:provision/pupils") { request, context -> Response in
            let visitor = try context.signedIn()
            let urn = try context.parameters.require("urn"), id = try context.parameters.require("provision")
            let upn = try await actions.enrol(visitor, context, urn, id, try await Self.body(request))
            return Reply.json(.object(["provision_id": .string(id), "upn": .string(upn)]), status: .created)
        }
        api.post("schools/:urn/provisions/:provision/pupils/:upn") { request, context -> Response in
            let visitor = try context.signedIn()
            let urn = try context.parameters.require("urn"), id = try context.parameters.require("provision")
            let upn = try context.parameters.require("upn")
            try await actions.updateEnrolment(visitor, context, urn, id, upn: upn, try await Self.body(request))
            return Reply.json(.object(["provision_id": .string(id), "upn": .string(upn)]))
        }
        api.get("pupils/:upn") { _, context -> Response in
            let visitor = try context.signedIn()
            let (pupil, alerts) = try await actions.pupil(visitor, context, upn: try context.parameters.require("upn"))
            return Reply.json(.object([
                "upn": .string(pupil.upn), "name": .string(pupil.name), "school_urn": .string(pupil.schoolURN),
                "year_group": pupil.yearGroup.map(JSONValue.string) ?? .null, "sen_status": .string(pupil.senStatus),
                "needs": .array(pupil.needs.map(JSONValue.string)), "on_roll": .bool(pupil.onRoll),
                "provisions": .array(pupil.history.map { item in
                    guard case .object(var fields) = item.enrolment.json else { return .null }
                    fields["provision_id"] = .string(item.provisionID)
                    fields["provision"] = .string(item.provision)
                    fields.removeValue(forKey: "name")
                    fields.removeValue(forKey: "upn")
                    return .object(fields)
                }),
                "assessments": .array(pupil.assessments.map { result in
                    .object([
                        "instrument": .string(result.instrument), "subject": .string(result.subject), "measure": .string(result.measure),
                        "value": .number(result.value), "date": .string(result.date.iso),
                    ])
                }),
                "alerts": .array(alerts.map { Self.json($0, names: [:]) }),
            ]))
        }
    }

    /// A JSON object body as form fields (numbers and booleans as their text), so the pages'
    /// and the API's actions read one shape. 400 when it is not a JSON object.
    static func body(_ request: Request) async throws -> Form {
        var fields: [String: String] = [:]
        for (key, value) in try await object(request, emptyAllowed: true) {
            switch value {
            case .string(let text): fields[key] = text
            case .number(let number): fields[key] = number.rounded() == number && abs(number) < 1e15 ? String(Int(number)) : String(number)
            case .bool(let flag): fields[key] = flag ? "true" : "false"
            default: throw ConsoleError.badRequest("field \(key) must be a string, number or boolean")
            }
        }
        return Form(fields: fields)
    }

    /// The request's JSON object body (at most 256 KiB); 400 when it is anything else. An
    /// empty body is an empty object when `emptyAllowed`.
    static func object(_ request: Request, emptyAllowed: Bool = false) async throws -> [String: JSONValue] {
        var request = request
        let buffer = try await request.collectBody(upTo: 256 * 1024)
        if emptyAllowed && buffer.readableBytes == 0 { return [:] }
        let body: JSONValue
        do {
            body = try JSONValue.parse(Array(buffer.readableBytesView))
        } catch {
            throw ConsoleError.badRequest("the body is not valid JSON: \(error)")
        }
        guard case .object(let fields) = body else { throw ConsoleError.badRequest("the body must be a JSON object") }
        return fields
    }

    static func json(_ alert: AlertListing, names: [String: String]) -> JSONValue {
        func text(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
        var fields: [String: JSONValue] = [
            "id": .number(Double(alert.id)), "rule": .string(alert.rule), "status": .string(alert.status),
            "answer": text(alert.answer), "snoozed_until": text(alert.snoozedUntil), "school_urn": .string(alert.schoolURN),
            "priority": .number(Double(alert.priority)), "opened_at": .string(alert.openedAt), "reason": .string(alert.reason),
            "upn": text(alert.upn), "provision_id": text(alert.provisionID), "numbers": alert.numbers,
            "actions": .array(alert.actions.map { action in
                .object(["action": .string(action.action), "by": .string(action.by), "note": text(action.note), "until": text(action.until?.iso)])
            }),
        ]
        if let upn = alert.upn, let name = names[upn] { fields["pupil_name"] = .string(name) }
        return .object(fields)
    }
}
