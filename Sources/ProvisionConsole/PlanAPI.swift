import Foundation
import Hummingbird
import ProvisionModel
import ProvisionPlans

/// The plans' part of the JSON API (docs/api.md): `/api/v1/pupils/{upn}/plans`,
/// `/api/v1/plans/{id}`, `/api/v1/plans/{id}/reviews` and `/api/v1/plans/{id}/shares`.
struct PlanAPI {
    let console: Console
    var actions: PlanActions { PlanActions(console: console) }

    func add(to router: Router<ConsoleContext>) {
        let api = router.group("api/v1")
        api.get("pupils/:upn/plans") { _, context -> Response in
            let visitor = try context.signedIn()
            let plans = try await actions.plans(visitor, context, pupil: try context.parameters.require("upn"))
            return Reply.json(.array(plans.map(Self.json)))
        }
        api.post("pupils/:upn/plans") { request, context -> Response in
            let visitor = try context.signedIn()
            let body = try await APIRoutes.object(request)
            guard let kind = PlanInputs.text(body, "kind").map(PlanKind.init(rawValue:)) ?? .senSupport else {
                throw ConsoleError.badRequest("kind must be sen_support or ehcp")
            }
            let id = try await actions.create(visitor, context, pupil: try context.parameters.require("upn"), kind: kind, try PlanInputs.plan(json: body))
            return Reply.json(.object(["id": .number(Double(id))]), status: .created)
        }
        api.post("schools/:urn/provisions/:provision/plans") { request, context -> Response in
            let visitor = try context.signedIn()
            let id = try await actions.createGroup(
                visitor, context, school: try context.parameters.require("urn"), provision: try context.parameters.require("provision"),
                try PlanInputs.plan(json: try await APIRoutes.object(request)))
            return Reply.json(.object(["id": .number(Double(id))]), status: .created)
        }
        api.get("plans/:id") { _, context -> Response in
            let visitor = try context.signedIn()
            return Reply.json(Self.json(try await actions.plan(visitor, context, id: try Self.id(context))))
        }
        api.get("plans/:id/reviews") { _, context -> Response in
            let visitor = try context.signedIn()
            let plan = try await actions.plan(visitor, context, id: try Self.id(context))
            return Reply.json(.array(plan.reviews.map(Self.json)))
        }
        api.post("plans/:id/reviews") { request, context -> Response in
            let visitor = try context.signedIn()
            let (review, version) = try await actions.review(
                visitor, context, plan: try Self.id(context), try PlanInputs.review(json: try await APIRoutes.object(request)))
            return Reply.json(.object(["review_id": .number(Double(review)), "version": .number(Double(version))]), status: .created)
        }
        api.post("plans/:id/targets") { request, context -> Response in
            let visitor = try context.signedIn()
            let targets = try PlanInputs.targets(json: try await APIRoutes.object(request))
            let version = try await actions.addTargets(visitor, context, plan: try Self.id(context), targets)
            return Reply.json(.object(["version": .number(Double(version))]), status: .created)
        }
        api.post("plans/:id/shares") { request, context -> Response in
            let visitor = try context.signedIn()
            let body = try await APIRoutes.object(request)
            try await actions.share(
                visitor, context, plan: try Self.id(context), on: try PlanInputs.date(PlanInputs.text(body, "shared_on"), "shared_on"),
                how: PlanInputs.text(body, "how") ?? "")
            return Reply.json(.object(["shared": .bool(true)]), status: .created)
        }
    }

    static func id(_ context: ConsoleContext) throws -> Int64 {
        guard let id = Int64(try context.parameters.require("id")) else { throw ConsoleError.notFound("that plan") }
        return id
    }

    static func json(_ plan: Plan) -> JSONValue {
        var fields: [String: JSONValue] = [
            "id": .number(Double(plan.id)), "school_urn": .string(plan.schoolURN), "kind": .string(plan.kind.rawValue),
            "upn": plan.pupil.map { .string($0.upn) } ?? .null, "provision_id": plan.provision.map { .string($0.id) } ?? .null,
            "versions": .array(plan.versions.map(json)),
            "reviews": .array(plan.reviews.map(json)),
            "shares": .array(plan.shares.map { share in
                .object([
                    "version": .number(Double(plan.versions.first { $0.id == share.versionID }?.number ?? 0)),
                    "shared_on": .string(share.sharedOn.iso), "how": .string(share.how), "recorded_by": .string(share.recordedBy),
                ])
            }),
        ]
        fields["current_version"] = plan.current.map { .number(Double($0.number)) } ?? .null
        return .object(fields)
    }

    static func json(_ version: Plan.Version) -> JSONValue {
        .object([
            "version": .number(Double(version.number)), "strengths": .string(version.strengths), "needs": .string(version.needs),
            "strategies": .string(version.strategies), "people": .string(version.people), "next_review": .string(version.nextReview.iso),
            "created_at": .string(ISO8601DateFormatter().string(from: version.createdAt)), "created_by": .string(version.createdBy),
            "provisions": .array(version.provisions.map { .string($0.id) }),
            "targets": .array(version.targets.map { target in
                var fields: [String: JSONValue] = [
                    "id": .number(Double(target.id)), "upn": .string(target.upn), "description": .string(target.description),
                    "by": .string(target.byDate.iso), "measured_by": .string(target.measuredBy),
                    "instrument": target.instrument.map(JSONValue.string) ?? .null, "subject": target.subject.map(JSONValue.string) ?? .null,
                    "measure": target.measure.map(JSONValue.string) ?? .null, "target_value": target.targetValue.map(JSONValue.number) ?? .null,
                ]
                fields["progress"] = target.progress.map { progress in
                    .object([
                        "baseline": progress.baseline.map(JSONValue.number) ?? .null, "latest": .number(progress.latest),
                        "on": .string(progress.on.iso), "met": .bool(progress.met),
                    ])
                } ?? .null
                return .object(fields)
            }),
        ])
    }

    static func json(_ review: Plan.Review) -> JSONValue {
        .object([
            "id": .number(Double(review.id)), "held_on": .string(review.heldOn.iso), "attendees": .string(review.attendees),
            "pupil_voice": .string(review.pupilVoice), "parent_voice": .string(review.parentVoice), "summary": .string(review.summary),
            "created_by": .string(review.createdBy),
            "ratings": .array(review.ratings.map { .object(["target_id": .number(Double($0.targetID)), "rating": .string($0.rating.rawValue), "evidence": .string($0.evidence)]) }),
            "decisions": .array(review.decisions.map {
                .object(["provision_id": .string($0.provisionID), "decision": .string($0.decision.rawValue),
                         "verdict": $0.verdict.map(JSONValue.string) ?? .null, "note": .string($0.note)])
            }),
        ])
    }
}
