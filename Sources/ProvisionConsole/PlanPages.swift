import Foundation
import Hummingbird
import ProvisionModel
import ProvisionPlans
import ProvisionReports

/// The assess–plan–do–review pages (issue 18): a plan with its versions, reviews and
/// shares; starting a plan from a pupil's page or a group plan from a provision's; holding a
/// review; recording that parents were told; and the printable documents.
struct PlanPages {
    let console: Console
    var actions: PlanActions { PlanActions(console: console) }

    func add(to router: Router<ConsoleContext>) {
        router.get("plans/:id") { _, context in try await planPage(context) }
        router.post("pupils/:upn/plans") { request, context -> Response in
            let visitor = try context.signedIn()
            let form = try await Form.read(request)
            guard let kind = PlanKind(rawValue: form["kind"] ?? "sen_support") else { throw ConsoleError.badRequest("kind must be sen_support or ehcp") }
            let id = try await actions.create(visitor, context, pupil: try context.parameters.require("upn"), kind: kind, try PlanInputs.plan(form))
            return Reply.redirect("/plans/\(id)")
        }
        router.post("schools/:urn/provisions/:provision/plans") { request, context -> Response in
            let visitor = try context.signedIn()
            let id = try await actions.createGroup(
                visitor, context, school: try context.parameters.require("urn"), provision: try context.parameters.require("provision"),
                try PlanInputs.plan(try await Form.read(request)))
            return Reply.redirect("/plans/\(id)")
        }
        router.post("plans/:id/reviews") { request, context -> Response in
            let visitor = try context.signedIn()
            let id = try planID(context)
            let plan = try await actions.plan(visitor, context, id: id)
            guard let current = plan.current else { throw ConsoleError.notFound("a version of plan \(id)") }
            _ = try await actions.review(visitor, context, plan: id, try PlanInputs.review(try await Form.read(request), current: current))
            return Reply.redirect("/plans/\(id)")
        }
        router.post("plans/:id/targets") { request, context -> Response in
            let visitor = try context.signedIn()
            let id = try planID(context)
            _ = try await actions.addTargets(visitor, context, plan: id, try PlanInputs.targets(try await Form.read(request)))
            return Reply.redirect("/plans/\(id)")
        }
        router.post("plans/:id/shares") { request, context -> Response in
            let visitor = try context.signedIn()
            let id = try planID(context)
            let form = try await Form.read(request)
            try await actions.share(visitor, context, plan: id, on: try PlanInputs.date(form["shared_on"], "shared_on"), how: form["how"] ?? "")
            return Reply.redirect("/plans/\(id)")
        }
        router.get("plans/:id/document") { request, context in try await planDocument(request, context) }
        router.get("plans/:id/reviews/:review/document") { request, context in try await reviewDocument(request, context) }
        router.get("pupils/:upn/passport") { _, context in try await passport(context) }
    }

    private func planID(_ context: ConsoleContext) throws -> Int64 {
        guard let id = Int64(try context.parameters.require("id")) else { throw ConsoleError.notFound("that plan") }
        return id
    }

    private func planPage(_ context: ConsoleContext) async throws -> Response {
        let visitor = try context.signedIn()
        let plan = try await actions.plan(visitor, context, id: try planID(context))
        guard let current = plan.current else { throw ConsoleError.notFound("a version of plan \(plan.id)") }
        let urn = plan.schoolURN
        var verdicts: [String: String] = [:]
        for provision in current.provisions {
            if let outcome = try await console.db({ try await ConsoleQueries.outcome($0, urn: urn, provisionID: provision.id) }) {
                verdicts[provision.id] = outcome.verdict.replacingOccurrences(of: "_", with: " ")
            }
        }
        let today = SchoolDate.today()
        let pupils = Dictionary(current.targets.map { ($0.upn, $0.pupilName) }, uniquingKeysWith: { first, _ in first })
        let reviewed = Set(plan.reviews.map(\.versionID))
        var values: [String: Any] = [
            "id": plan.id, "title": plan.title, "kind": plan.kind.title, "urn": urn, "school": console.schoolName(urn),
            "csrf": visitor.csrfToken ?? "", "today": today.iso, "group": plan.kind == .group,
            "current": versionValues(current, plan: plan, today: today),
            "overdue": current.nextReview < today,
            "provisions": current.provisions.map { provision -> [String: Any] in
                var item: [String: Any] = ["id": provision.id, "name": provision.name, "path": provision.id.urlPathEncoded]
                if let verdict = verdicts[provision.id] { item["verdict"] = verdict }
                return item
            },
            "has_provisions": !current.provisions.isEmpty,
            "older": plan.versions.dropLast().reversed().map { versionValues($0, plan: plan, today: today) },
            "has_older": plan.versions.count > 1,
            "reviews": plan.reviews.reversed().map { reviewValues($0, plan: plan) },
            "shares": plan.shares.map { share -> [String: Any] in
                ["version": plan.versions.first { $0.id == share.versionID }?.number ?? 0, "on": share.sharedOn.iso, "how": share.how, "by": share.recordedBy]
            },
            "shared_current": plan.shares.contains { $0.versionID == current.id },
            "reviewable": !reviewed.contains(current.id),
            "documents": pupils.keys.sorted().map { ["upn": $0, "name": pupils[$0] ?? $0] },
            "blank_targets": (1...3).map { ["n": $0] },
            "group_pupils": plan.kind == .group ? pupils.keys.sorted().map { ["upn": $0, "name": pupils[$0] ?? $0] } : [],
        ]
        if let pupil = plan.pupil { values["pupil"] = ["upn": pupil.upn, "name": pupil.name] }
        if let provision = plan.provision { values["provision"] = ["id": provision.id, "name": provision.name, "path": provision.id.urlPathEncoded] }
        return console.pages.render("plan", title: plan.title, visitor: visitor, console: console, values: values)
    }

    private func versionValues(_ version: Plan.Version, plan: Plan, today: SchoolDate) -> [String: Any] {
        let ratings = plan.reviews.first { $0.versionID == version.id }.map { review in
            Dictionary(uniqueKeysWithValues: review.ratings.map { ($0.targetID, $0) })
        } ?? [:]
        return [
            "number": version.number, "strengths": version.strengths, "needs": version.needs, "strategies": version.strategies,
            "people": version.people, "next_review": version.nextReview.iso, "written": ISO8601DateFormatter().string(from: version.createdAt).prefix(10),
            "by": version.createdBy,
            "targets": version.targets.map { target -> [String: Any] in
                var item: [String: Any] = [
                    "id": target.id, "upn": target.upn, "pupil": target.pupilName, "description": target.description,
                    "by": target.byDate.iso, "measured_by": target.measuredBy, "past": target.byDate < today,
                ]
                if let instrument = target.instrument, let value = target.targetValue {
                    item["test"] = "\(instrument) \(target.subject ?? "") \(Show.measure(target.measure ?? "")) ≥ \(Show.number(value))"
                }
                if let progress = target.progress {
                    item["progress"] = "latest \(Show.number(progress.latest)) on \(progress.on.iso)"
                        + (progress.baseline.map { " (from \(Show.number($0)))" } ?? "") + (progress.met ? ": met" : "")
                    item["met"] = progress.met
                }
                if let rating = ratings[target.id] { item["rating"] = rating.rating.words + (rating.evidence.isEmpty ? "" : ": \(rating.evidence)") }
                return item
            },
        ]
    }

    private func reviewValues(_ review: Plan.Review, plan: Plan) -> [String: Any] {
        let version = plan.versions.first { $0.id == review.versionID }
        let descriptions = Dictionary(uniqueKeysWithValues: (version?.targets ?? []).map { ($0.id, $0) })
        let pupils = Set((version?.targets ?? []).map(\.upn)).sorted()
        return [
            "id": review.id, "held_on": review.heldOn.iso, "attendees": review.attendees, "pupil_voice": review.pupilVoice,
            "parent_voice": review.parentVoice, "summary": review.summary, "by": review.createdBy, "version": version?.number ?? 0,
            "ratings": review.ratings.map { rating -> [String: Any] in
                ["description": descriptions[rating.targetID]?.description ?? "", "pupil": descriptions[rating.targetID]?.pupilName ?? "",
                 "rating": rating.rating.words, "evidence": rating.evidence]
            },
            "decisions": review.decisions.map { decision -> [String: Any] in
                ["name": decision.name, "decision": decision.decision.rawValue, "verdict": decision.verdict?.replacingOccurrences(of: "_", with: " ") ?? "not evaluated",
                 "note": decision.note]
            },
            "documents": pupils.map { ["upn": $0, "plan": plan.id, "review": review.id] },
        ]
    }

    /// The pupil (by `upn` in the query) a document is for: one of the plan's.
    private func documentPupil(_ request: Request, plan: Plan) throws -> String {
        guard let upn = request.uri.queryParameters["upn"].map(String.init) ?? plan.pupil?.upn else {
            throw ConsoleError.badRequest("say which pupil the document is for (?upn=UPN)")
        }
        return upn
    }

    private func forename(_ upn: String) async throws -> String {
        try await console.db { db in
            try await db.query("SELECT forename FROM pupils WHERE upn = $1", upn).singleRow().map { try $0.decode("forename", as: String.self) }
        } ?? upn
    }

    private func planDocument(_ request: Request, _ context: ConsoleContext) async throws -> Response {
        let visitor = try context.signedIn()
        let plan = try await actions.plan(visitor, context, id: try planID(context))
        let upn = try documentPupil(request, plan: plan)
        guard let html = PlanDocuments.plan(plan, for: upn, forename: try await forename(upn), school: console.schoolName(plan.schoolURN)) else {
            throw ConsoleError.notFound("a part of this plan for \(upn)")
        }
        try await console.audit(visitor, context, "plan.document", school: plan.schoolURN, subject: upn)
        return Reply.document(Array(html.utf8))
    }

    private func reviewDocument(_ request: Request, _ context: ConsoleContext) async throws -> Response {
        let visitor = try context.signedIn()
        let plan = try await actions.plan(visitor, context, id: try planID(context))
        guard let reviewID = Int64(try context.parameters.require("review")) else { throw ConsoleError.notFound("that review") }
        let upn = try documentPupil(request, plan: plan)
        guard let html = PlanDocuments.review(
            plan, review: reviewID, for: upn, forename: try await forename(upn), school: console.schoolName(plan.schoolURN))
        else { throw ConsoleError.notFound("review \(reviewID) for \(upn)") }
        try await console.audit(visitor, context, "review.document", school: plan.schoolURN, subject: upn)
        return Reply.document(Array(html.utf8))
    }

    private func passport(_ context: ConsoleContext) async throws -> Response {
        let visitor = try context.signedIn()
        let upn = try context.parameters.require("upn")
        let (pupil, _) = try await Actions(console: console).pupil(visitor, context, upn: upn)
        let plans = try await console.db { try await Plans.forPupil($0, upn: upn) }
        let facts = PlanDocuments.PupilFacts(
            forename: try await forename(upn), name: pupil.name, yearGroup: pupil.yearGroup, senStatus: pupil.senStatus, needs: pupil.needs,
            school: console.schoolName(pupil.schoolURN),
            provisions: pupil.history.filter { $0.enrolment.status == "active" }.map(\.provision))
        let plan = plans.last { $0.kind != .group } ?? plans.last
        return Reply.document(Array(PlanDocuments.passport(facts, plan: plan, upn: upn).utf8))
    }

}
