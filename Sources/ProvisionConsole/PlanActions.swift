import Foundation
import Postgres
import ProvisionAccounts
import ProvisionModel
import ProvisionPlans

/// What can be done with support plans, for the pages and the API alike: access by the
/// plan's (or pupil's) school, the plans library's checks, and the audit log.
struct PlanActions {
    let console: Console

    /// Runs a plans-library call, turning its refusals into 404 or 422.
    func library<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await console.db(body)
        } catch let error as PlanError {
            throw ConsoleError(error.notFound ? .notFound : .unprocessableContent, error.description)
        }
    }

    /// The school of plan `id`, checked against `visitor`'s access.
    func authorise(_ visitor: Visitor, plan id: Int64) async throws -> String {
        guard let urn = try await console.db({ try await Plans.school($0, plan: id) }) else { throw ConsoleError.notFound("plan \(id)") }
        try Access.require(visitor, .school(urn), among: console.schoolURNs)
        return urn
    }

    func plans(_ visitor: Visitor, _ context: ConsoleContext, pupil upn: String) async throws -> [Plan] {
        let urn = try await Actions(console: console).authorise(visitor, pupil: upn)
        let plans = try await console.db { try await Plans.forPupil($0, upn: upn) }
        try await console.audit(visitor, context, "plans.view", school: urn, subject: upn)
        return plans
    }

    func plan(_ visitor: Visitor, _ context: ConsoleContext, id: Int64) async throws -> Plan {
        let urn = try await authorise(visitor, plan: id)
        guard let plan = try await console.db({ try await Plans.read($0, plan: id) }) else { throw ConsoleError.notFound("plan \(id)") }
        try await console.audit(visitor, context, "plan.view", school: urn, subject: String(id))
        return plan
    }

    func create(
        _ visitor: Visitor, _ context: ConsoleContext, pupil upn: String, kind: PlanKind, _ input: PlanInput
    ) async throws -> Int64 {
        guard kind != .group else { throw ConsoleError.badRequest("a group plan is made from its provision's page") }
        let urn = try await Actions(console: console).authorise(visitor, pupil: upn)
        let user = visitor.user, address = context.address
        return try await library { db in
            try await Plans.create(db, school: urn, kind: kind, pupil: upn, input, by: user.email) { db, id in
                try AuditLog.record(
                    in: db, user: user, address: address, action: "plan.created", school: urn, subject: String(id),
                    detail: ["pupil": .string(upn), "kind": .string(kind.rawValue)])
            }
        }
    }

    func createGroup(_ visitor: Visitor, _ context: ConsoleContext, school urn: String, provision: String, _ input: PlanInput) async throws -> Int64 {
        try Access.require(visitor, .school(urn), among: console.schoolURNs)
        let user = visitor.user, address = context.address
        return try await library { db in
            try await Plans.create(db, school: urn, kind: .group, provision: provision, input, by: user.email) { db, id in
                try AuditLog.record(
                    in: db, user: user, address: address, action: "plan.created", school: urn, subject: String(id),
                    detail: ["provision": .string(provision), "kind": .string("group")])
            }
        }
    }

    func review(_ visitor: Visitor, _ context: ConsoleContext, plan id: Int64, _ input: ReviewInput) async throws -> (review: Int64, version: Int) {
        let urn = try await authorise(visitor, plan: id)
        let user = visitor.user, address = context.address
        return try await library { db in
            try await Plans.holdReview(db, plan: id, input, by: user.email) { db, review in
                try AuditLog.record(
                    in: db, user: user, address: address, action: "plan.reviewed", school: urn, subject: String(id),
                    detail: ["review": .string(String(review))])
            }
        }
    }

    func addTargets(_ visitor: Visitor, _ context: ConsoleContext, plan id: Int64, _ targets: [TargetInput]) async throws -> Int {
        let urn = try await authorise(visitor, plan: id)
        let audit = console.auditing(visitor, context, "plan.targets_added", school: urn, subject: String(id))
        return try await library { db in try await Plans.addTargets(db, plan: id, targets, by: visitor.user.email, within: audit) }
    }

    func share(_ visitor: Visitor, _ context: ConsoleContext, plan id: Int64, on day: SchoolDate, how: String) async throws {
        let urn = try await authorise(visitor, plan: id)
        let audit = console.auditing(visitor, context, "plan.shared", school: urn, subject: String(id), detail: ["how": how, "on": day.iso])
        try await library { db in try await Plans.recordShare(db, plan: id, on: day, how: how, by: visitor.user.email, within: audit) }
    }
}
