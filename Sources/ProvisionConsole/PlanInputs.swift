import Foundation
import ProvisionModel
import ProvisionPlans

/// Reading plans and reviews from the console's forms and the API's JSON into the plans
/// library's inputs. The library checks what they say; these only carry it, and refuse
/// what cannot be read (a date that is not a date) with the field's name.
enum PlanInputs {
    static let maxTargets = 12

    static func date(_ text: String?, _ field: String) throws(ConsoleError) -> SchoolDate {
        guard let text, let day = SchoolDate(iso: text) else { throw .badRequest("\(field) must be a date (YYYY-MM-DD)") }
        return day
    }

    static func number(_ text: String?, _ field: String) throws(ConsoleError) -> Double? {
        guard let text else { return nil }
        guard let value = Double(text), value.isFinite else { throw .badRequest("\(field) must be a number") }
        return value
    }

    // MARK: Forms

    /// A plan from form fields; `prefix` is "" for a new plan and "next_" for the version a
    /// review makes. Targets are `target_N_description`, `_by`, `_measured_by`,
    /// `_instrument`, `_measure`, `_value` and (group plans) `_upn`, N from 1; provisions are
    /// checkboxes named `provision:ID`.
    static func plan(_ form: Form, prefix: String = "") throws(ConsoleError) -> PlanInput {
        let provisions = form.fields.keys.filter { $0.hasPrefix(prefix + "provision:") }.map { String($0.dropFirst(prefix.count + 10)) }.sorted()
        return PlanInput(
            strengths: form[prefix + "strengths"] ?? "", needs: form[prefix + "needs"] ?? "", strategies: form[prefix + "strategies"] ?? "",
            people: form[prefix + "people"] ?? "", nextReview: try date(form[prefix + "next_review"], prefix + "next_review"),
            targets: try targets(form, prefix: prefix), provisionIDs: provisions)
    }

    /// The targets of a form (`target_N_…` fields, N from 1), rows without a description left out.
    static func targets(_ form: Form, prefix: String = "") throws(ConsoleError) -> [TargetInput] {
        var targets: [TargetInput] = []
        for n in 1...maxTargets {
            let key = "\(prefix)target_\(n)_"
            guard let description = form[key + "description"] else { continue }
            let instrument = form[key + "instrument"]
            targets.append(TargetInput(
                upn: form[key + "upn"]?.uppercased(), description: description, byDate: try date(form[key + "by"], key + "by"),
                measuredBy: form[key + "measured_by"] ?? "", instrument: instrument,
                subject: instrument == nil ? nil : (form[key + "subject"] ?? "reading"),
                measure: instrument == nil ? nil : (form[key + "measure"] ?? "standardised"),
                targetValue: instrument == nil ? nil : try number(form[key + "value"], key + "value")))
        }
        return targets
    }

    /// A review from form fields: `held_on`, `attendees`, `pupil_voice`, `parent_voice`,
    /// `summary`, `rating_TARGET` and `evidence_TARGET` for each target, `decision_PROVISION`
    /// and `note_PROVISION` for each provision, and the next version's fields prefixed
    /// `next_`; a checked `carry_TARGET` carries that target into the next version.
    static func review(_ form: Form, current: Plan.Version) throws(ConsoleError) -> ReviewInput {
        var ratings: [Int64: (rating: Rating, evidence: String)] = [:]
        for target in current.targets {
            guard let text = form["rating_\(target.id)"] else { continue }
            guard let rating = Rating(rawValue: text) else { throw .badRequest("rating_\(target.id) must be not_yet, partly or achieved") }
            ratings[target.id] = (rating, form["evidence_\(target.id)"] ?? "")
        }
        var decisions: [String: (decision: Decision, note: String)] = [:]
        for provision in current.provisions {
            guard let text = form["decision_\(provision.id)"] else { continue }
            guard let decision = Decision(rawValue: text) else { throw .badRequest("decision_\(provision.id) must be continue, change or stop") }
            decisions[provision.id] = (decision, form["note_\(provision.id)"] ?? "")
        }
        var next = try plan(form, prefix: "next_")
        // A provision the review stops does not serve the next version.
        next.provisionIDs = next.provisionIDs.filter { decisions[$0]?.decision != .stop }
        let carried = current.targets.filter { form["carry_\($0.id)"] != nil }.map { target in
            TargetInput(
                upn: target.upn, description: target.description, byDate: next.nextReview, measuredBy: target.measuredBy,
                instrument: target.instrument, subject: target.subject, measure: target.measure, targetValue: target.targetValue)
        }
        next.targets = carried + next.targets
        return ReviewInput(
            heldOn: try date(form["held_on"], "held_on"), attendees: form["attendees"] ?? "", pupilVoice: form["pupil_voice"] ?? "",
            parentVoice: form["parent_voice"] ?? "", summary: form["summary"] ?? "", ratings: ratings, decisions: decisions, next: next)
    }

    // MARK: JSON

    static func object(_ value: JSONValue?, _ field: String) throws(ConsoleError) -> [String: JSONValue] {
        guard case .object(let fields) = value ?? .null else { throw .badRequest("\(field) must be a JSON object") }
        return fields
    }

    static func text(_ fields: [String: JSONValue], _ key: String) -> String? {
        if case .string(let text) = fields[key] ?? .null {
            let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
            return trimmed.isEmpty ? nil : trimmed
        }
        return nil
    }

    static func array(_ fields: [String: JSONValue], _ key: String) throws(ConsoleError) -> [JSONValue] {
        switch fields[key] ?? .null {
        case .null: return []
        case .array(let items): return items
        default: throw .badRequest("\(key) must be an array")
        }
    }

    /// A plan from JSON: `strengths`, `needs`, `strategies`, `people`, `next_review`,
    /// `targets` (objects: `description`, `by`, `measured_by`, `upn`, `instrument`, `subject`,
    /// `measure`, `target_value`) and `provisions` (provision ids).
    static func plan(json fields: [String: JSONValue]) throws(ConsoleError) -> PlanInput {
        let provisions = try array(fields, "provisions").compactMap { item -> String? in
            if case .string(let id) = item { return id }
            return nil
        }
        return PlanInput(
            strengths: text(fields, "strengths") ?? "", needs: text(fields, "needs") ?? "", strategies: text(fields, "strategies") ?? "",
            people: text(fields, "people") ?? "", nextReview: try date(text(fields, "next_review"), "next_review"),
            targets: try targets(json: fields), provisionIDs: provisions)
    }

    /// The `targets` array of a JSON body.
    static func targets(json fields: [String: JSONValue]) throws(ConsoleError) -> [TargetInput] {
        var targets: [TargetInput] = []
        for (index, item) in try array(fields, "targets").enumerated() {
            let target = try object(item, "targets[\(index)]")
            var value: Double?
            if case .number(let number) = target["target_value"] ?? .null { value = number }
            let instrument = text(target, "instrument")
            targets.append(TargetInput(
                upn: text(target, "upn")?.uppercased(), description: text(target, "description") ?? "",
                byDate: try date(text(target, "by"), "targets[\(index)].by"), measuredBy: text(target, "measured_by") ?? "",
                instrument: instrument, subject: instrument == nil ? nil : (text(target, "subject") ?? "reading"),
                measure: text(target, "measure"), targetValue: value))
        }
        return targets
    }

    /// A review from JSON: `held_on`, `attendees`, `pupil_voice`, `parent_voice`, `summary`,
    /// `ratings` (`target_id`, `rating`, `evidence`), `decisions` (`provision_id`,
    /// `decision`, `note`) and `next` (a plan as ``plan(json:)`` reads it).
    static func review(json fields: [String: JSONValue]) throws(ConsoleError) -> ReviewInput {
        var ratings: [Int64: (rating: Rating, evidence: String)] = [:]
        for (index, item) in try array(fields, "ratings").enumerated() {
            let rating = try object(item, "ratings[\(index)]")
            guard case .number(let id) = rating["target_id"] ?? .null, let level = text(rating, "rating").flatMap(Rating.init(rawValue:)) else {
                throw .badRequest("ratings[\(index)] needs target_id and rating (not_yet, partly or achieved)")
            }
            ratings[Int64(id)] = (level, text(rating, "evidence") ?? "")
        }
        var decisions: [String: (decision: Decision, note: String)] = [:]
        for (index, item) in try array(fields, "decisions").enumerated() {
            let decision = try object(item, "decisions[\(index)]")
            guard let id = text(decision, "provision_id"), let choice = text(decision, "decision").flatMap(Decision.init(rawValue:)) else {
                throw .badRequest("decisions[\(index)] needs provision_id and decision (continue, change or stop)")
            }
            decisions[id] = (choice, text(decision, "note") ?? "")
        }
        return ReviewInput(
            heldOn: try date(text(fields, "held_on"), "held_on"), attendees: text(fields, "attendees") ?? "",
            pupilVoice: text(fields, "pupil_voice") ?? "", parentVoice: text(fields, "parent_voice") ?? "",
            summary: text(fields, "summary") ?? "", ratings: ratings, decisions: decisions,
            next: try plan(json: try object(fields["next"], "next")))
    }
}
