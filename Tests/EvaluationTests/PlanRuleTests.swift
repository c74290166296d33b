import Foundation
import Postgres
import ProvisionModel
import ProvisionPlans
import Testing

/// The cycle's alert rules against hand-made plans: "review overdue", "target date passed
/// without a rating" and "parents not informed of a new plan" (docs/evaluation.md).
@Suite struct PlanRuleTests {
    static func day(_ offset: Int) -> SchoolDate { PlanLifecycleTests.day(offset) }

    /// Evaluates as of `offset` days from today and returns the rule's flags' subject keys.
    static func flagged(_ fixture: EvaluationFixture, _ rule: String, on offset: Int) async throws -> [String] {
        let run = try await fixture.evaluate(asOf: day(offset)).runID
        return try await fixture.flags(run, rule).map { try $0.decode("subject_key", as: String.self) }
    }

    @Test func aReviewDatePassedWithNoReviewIsOverdueUntilTheReviewIsHeld() async throws {
        let (fixture, upn, _) = try await PlanLifecycleTests.school("rule-review")
        let planID = try await Plans.create(
            fixture.db, school: "139001", kind: .senSupport, pupil: upn, PlanLifecycleTests.firstPlan(upn: upn), by: PlanLifecycleTests.lead)
        #expect(try await Self.flagged(fixture, "review_overdue", on: 42).isEmpty, "due on day 42: not overdue that day")
        #expect(try await Self.flagged(fixture, "review_overdue", on: 43) == ["review:\(planID):1"])
        let reason = try await fixture.flags(try await fixture.evaluate(asOf: Self.day(50)).runID, "review_overdue").first?.decode("reason", as: String.self)
        #expect(reason == "The SEN support plan (version 1) was due for review on \(Self.ddmmyyyy(Self.day(42))), 8 days ago, and has not been reviewed.")

        let targets = try #require(try await Plans.read(fixture.db, plan: planID)?.current?.targets)
        try await Plans.holdReview(
            fixture.db, plan: planID,
            ReviewInput(
                heldOn: Self.day(0), attendees: "SENCO, parent",
                ratings: Dictionary(uniqueKeysWithValues: targets.map { ($0.id, (Rating.partly, "")) }),
                decisions: ["reading": (.change, "smaller group")],
                next: PlanInput(nextReview: Self.day(100), targets: [TargetInput(description: "Next step", byDate: Self.day(95))])),
            by: PlanLifecycleTests.lead)
        #expect(try await Self.flagged(fixture, "review_overdue", on: 43).isEmpty, "version 2 is due on day 100")
        #expect(try await Self.flagged(fixture, "review_overdue", on: 101) == ["review:\(planID):2"])
    }

    @Test func aTargetPastItsDateWithNoRatingIsFlagged() async throws {
        let (fixture, upn, _) = try await PlanLifecycleTests.school("rule-target")
        let planID = try await Plans.create(
            fixture.db, school: "139001", kind: .senSupport, pupil: upn, PlanLifecycleTests.firstPlan(upn: upn), by: PlanLifecycleTests.lead)
        let ids = try #require(try await Plans.read(fixture.db, plan: planID)?.current?.targets.map(\.id))
        #expect(try await Self.flagged(fixture, "target_date_passed", on: 40).isEmpty)
        #expect(try await Self.flagged(fixture, "target_date_passed", on: 41) == ids.map { "target:\($0)" }.sorted())
    }

    @Test func aNewPlanNotSharedWithParentsIsFlaggedAfterTheGracePeriod() async throws {
        let (fixture, upn, _) = try await PlanLifecycleTests.school("rule-parents")
        let planID = try await Plans.create(
            fixture.db, school: "139001", kind: .senSupport, pupil: upn, PlanLifecycleTests.firstPlan(upn: upn), by: PlanLifecycleTests.lead)
        #expect(try await Self.flagged(fixture, "parents_not_informed", on: 13).isEmpty)
        #expect(try await Self.flagged(fixture, "parents_not_informed", on: 14) == ["share:\(planID):1"])
        try await Plans.recordShare(fixture.db, plan: planID, on: Self.day(0), how: "meeting with mum", by: PlanLifecycleTests.lead)
        #expect(try await Self.flagged(fixture, "parents_not_informed", on: 14).isEmpty)
    }

    @Test func aPupilWhoLeftRaisesNothing() async throws {
        let (fixture, upn, _) = try await PlanLifecycleTests.school("rule-leaver")
        try await Plans.create(
            fixture.db, school: "139001", kind: .senSupport, pupil: upn, PlanLifecycleTests.firstPlan(upn: upn), by: PlanLifecycleTests.lead)
        try await fixture.db.execute("UPDATE pupils SET on_roll = false WHERE upn = $1", upn)
        for rule in ["review_overdue", "target_date_passed", "parents_not_informed"] {
            #expect(try await Self.flagged(fixture, rule, on: 60).isEmpty, "\(rule)")
        }
    }

    static func ddmmyyyy(_ day: SchoolDate) -> String {
        let parts = day.iso.split(separator: "-")
        return "\(parts[2])/\(parts[1])/\(parts[0])"
    }
}
