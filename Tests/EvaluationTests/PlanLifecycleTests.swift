import Foundation
import Postgres
import ProvisionModel
import ProvisionPlans
import Testing

/// Support plans and reviews (issue 18): versions kept, reviews make the next version, the
/// schema refuses to change what was written, linked targets fill in from assessments.
@Suite struct PlanLifecycleTests {
    static let today = SchoolDate.today()
    static func day(_ offset: Int) -> SchoolDate { SchoolDate(daysSince1970: today.daysSince1970 + offset) }
    static let lead = "senco@test.example"

    /// A school with a pupil on SEN support and a reading provision they are in.
    static func school(_ label: String) async throws -> (EvaluationFixture, upn: String, provision: Int64) {
        let fixture = try await EvaluationFixture.make(label)
        let pupil = try await fixture.pupil(1, sen: "K")
        let provision = try await fixture.provision("reading", measure: "standardised", start: day(-60).iso, end: nil)
        try await fixture.enrol(provision, pupil, start: day(-60).iso, end: nil, status: "active")
        try await fixture.assessment(pupil, "standardised", 84, day(-70).iso)
        let upn = try await fixture.db.query("SELECT upn FROM pupils WHERE id = $1", pupil).scalar(as: String.self)
        return (fixture, upn, provision)
    }

    static func firstPlan(upn: String) -> PlanInput {
        PlanInput(
            strengths: "Loves stories read aloud; keen to help others.", needs: "Decoding longer words; reading stamina.",
            strategies: "Pre-teach topic words; chunk texts.", people: "Class teacher, reading TA, parents",
            nextReview: day(42),
            targets: [
                TargetInput(description: "Read a Year 3 book aloud for ten minutes", byDate: day(40), measuredBy: "reading diary"),
                TargetInput(
                    description: "Reach a reading score of 90", byDate: day(40), measuredBy: "NGRT in the spring", instrument: "NGRT",
                    subject: "reading", measure: "standardised", targetValue: 90),
            ],
            provisionIDs: ["reading"])
    }

    @Test func aReviewMakesTheNextVersionAndEveryVersionIsKept() async throws {
        let (fixture, upn, _) = try await Self.school("plan-cycle")
        let db = fixture.db
        let planID = try await Plans.create(db, school: "139001", kind: .senSupport, pupil: upn, Self.firstPlan(upn: upn), by: Self.lead)
        let first = try #require(try await Plans.read(db, plan: planID))
        #expect(first.versions.count == 1 && first.reviews.isEmpty && first.pupil?.upn == upn)
        let targets = try #require(first.current?.targets)
        #expect(targets.map(\.description) == ["Read a Year 3 book aloud for ten minutes", "Reach a reading score of 90"])
        #expect(first.current?.provisions.map(\.id) == ["reading"])

        let next = PlanInput(
            strengths: "Reads with more confidence.", needs: "Stamina", nextReview: Self.day(90),
            targets: [TargetInput(description: "Read a chapter book independently", byDate: Self.day(85))], provisionIDs: [])
        let (reviewID, version) = try await Plans.holdReview(
            db, plan: planID,
            ReviewInput(
                heldOn: Self.today, attendees: "SENCO, class teacher, mum", pupilVoice: "I like the reading group",
                parentVoice: "She reads at bedtime now", summary: "Good progress; continue reading group",
                ratings: [targets[0].id: (.achieved, "diary shows daily reading"), targets[1].id: (.partly, "score 87")],
                decisions: ["reading": (.continue, "keep the group")], next: next),
            by: Self.lead)
        #expect(version == 2)

        let plan = try #require(try await Plans.read(db, plan: planID))
        #expect(plan.versions.map(\.number) == [1, 2])
        #expect(plan.versions[0].targets.count == 2, "version 1 is kept whole")
        #expect(plan.versions[0].strengths == "Loves stories read aloud; keen to help others.")
        #expect(plan.versions[1].fromReviewID == reviewID && plan.versions[1].targets.map(\.description) == ["Read a chapter book independently"])
        let review = try #require(plan.reviews.first)
        #expect(review.versionID == plan.versions[0].id && review.pupilVoice == "I like the reading group")
        #expect(review.parentVoice == "She reads at bedtime now" && review.attendees == "SENCO, class teacher, mum")
        #expect(review.ratings.map(\.rating) == [.achieved, .partly])
        #expect(review.decisions.map(\.decision) == [.continue] && review.decisions.first?.verdict == nil)

        // The same version cannot be reviewed twice; the new one can be, later.
        await #expect(throws: PlanError.self) {
            try await Plans.holdReview(
                db, plan: planID, ReviewInput(heldOn: Self.today, attendees: "x", ratings: [:], next: next), by: Self.lead)
        }
    }

    @Test func aReviewMustRateEveryTargetAndDecideEveryProvisionOrNothingIsWritten() async throws {
        let (fixture, upn, _) = try await Self.school("plan-incomplete")
        let db = fixture.db
        let planID = try await Plans.create(db, school: "139001", kind: .senSupport, pupil: upn, Self.firstPlan(upn: upn), by: Self.lead)
        let targets = try #require(try await Plans.read(db, plan: planID)?.current?.targets)
        let next = Self.firstPlan(upn: upn)
        func attempt(_ ratings: [Int64: (rating: Rating, evidence: String)], _ decisions: [String: (decision: Decision, note: String)]) async -> String? {
            do {
                try await Plans.holdReview(
                    db, plan: planID, ReviewInput(heldOn: Self.today, attendees: "SENCO", ratings: ratings, decisions: decisions, next: next),
                    by: Self.lead)
                return nil
            } catch {
                return "\(error)"
            }
        }
        let oneRated = await attempt([targets[0].id: (.achieved, "")], ["reading": (.continue, "")])
        #expect(oneRated?.contains("rate every target") == true, "\(oneRated ?? "accepted")")
        let noDecision = await attempt([targets[0].id: (.achieved, ""), targets[1].id: (.notYet, "")], [:])
        #expect(noDecision?.contains("decide on every provision") == true, "\(noDecision ?? "accepted")")
        let stranger = await attempt([targets[0].id: (.achieved, ""), targets[1].id: (.notYet, ""), 999_999: (.notYet, "")], ["reading": (.stop, "")])
        #expect(stranger?.contains("not targets of version 1") == true, "\(stranger ?? "accepted")")
        #expect(try await db.query("SELECT count(*)::int FROM plan_reviews").scalar(as: Int.self) == 0)
        #expect(try await db.query("SELECT count(*)::int FROM plan_versions").scalar(as: Int.self) == 1)
    }

    /// A plan's free text may run over several lines (a browser's textarea sends CRLF), but
    /// holds none of the characters an import refuses: the console's plans follow the same rule.
    @Test func planTextMayRunOverLinesButHidesNoControls() async throws {
        let (fixture, upn, _) = try await Self.school("plan-text")
        let db = fixture.db
        var plan = Self.firstPlan(upn: upn)
        plan.strategies = "Pre-teach topic words.\r\nChunk texts.\nCheck often."
        let planID = try await Plans.create(db, school: "139001", kind: .senSupport, pupil: upn, plan, by: Self.lead)
        #expect(try await Plans.read(db, plan: planID)?.current?.strategies == "Pre-teach topic words.\r\nChunk texts.\nCheck often.")
        func refusal(_ change: (inout PlanInput) -> Void) async -> String? {
            var input = Self.firstPlan(upn: upn)
            change(&input)
            do {
                try await Plans.create(db, school: "139001", kind: .senSupport, pupil: upn, input, by: Self.lead)
                return nil
            } catch {
                return "\(error)"
            }
        }
        #expect(await refusal { $0.needs = "Decoding\u{9B}2J" } == "needs contains control characters")
        #expect(await refusal { $0.targets[0].description = "Read \u{202E}aloud" }
            == "target 1 contains bidirectional control characters, which can make text display in a misleading order")
        #expect(try await db.query("SELECT count(*)::int FROM support_plans").scalar(as: Int.self) == 1)
    }

    @Test func whatWasWrittenCannotBeChangedOrRemoved() async throws {
        let (fixture, upn, _) = try await Self.school("plan-kept")
        let db = fixture.db
        try await Plans.create(db, school: "139001", kind: .senSupport, pupil: upn, Self.firstPlan(upn: upn), by: Self.lead)
        for statement in ["UPDATE plan_versions SET needs = 'rewritten'", "DELETE FROM plan_targets", "UPDATE plan_targets SET by_date = by_date + 1",
                          "DELETE FROM plan_provisions"] {
            do {
                try await db.execute(statement)
                Issue.record("\(statement) was allowed")
            } catch let error as PostgresError {
                #expect(error.sqlState == "23001", "\(statement): \(error)")
                #expect(error.message.contains("never changed or removed"))
            }
        }
    }

    @Test func aTargetLinkedToATestFillsInFromAssessments() async throws {
        let (fixture, upn, _) = try await Self.school("plan-progress")
        let db = fixture.db
        let planID = try await Plans.create(db, school: "139001", kind: .senSupport, pupil: upn, Self.firstPlan(upn: upn), by: Self.lead)
        var linked = try #require(try await Plans.read(db, plan: planID)?.current?.targets.last)
        #expect(linked.progress == nil, "no result since the plan was written")
        let pupil = try await db.query("SELECT id FROM pupils WHERE upn = $1", upn).scalar(as: Int64.self)
        try await fixture.assessment(pupil, "standardised", 88, Self.day(20).iso)
        try await fixture.assessment(pupil, "standardised", 70, Self.day(21).iso, instrument: "PiRA")  // another test: not this target's
        linked = try #require(try await Plans.read(db, plan: planID)?.current?.targets.last)
        #expect(linked.progress == Plan.Progress(baseline: 84, latest: 88, on: Self.day(20), met: false))
        try await fixture.assessment(pupil, "standardised", 91, Self.day(30).iso)
        linked = try #require(try await Plans.read(db, plan: planID)?.current?.targets.last)
        #expect(linked.progress == Plan.Progress(baseline: 84, latest: 91, on: Self.day(30), met: true))
        #expect(try await Plans.read(db, plan: planID)?.current?.targets.first?.progress == nil, "a target with no test has no progress")
    }

    @Test func aGroupPlanHasATargetForEachPupilInTheGroup() async throws {
        let (fixture, upn, provision) = try await Self.school("plan-group")
        let db = fixture.db
        let second = try await fixture.pupil(2, sen: "K")
        try await fixture.enrol(provision, second, start: Self.day(-60).iso, end: nil, status: "active")
        let secondUPN = try await db.query("SELECT upn FROM pupils WHERE id = $1", second).scalar(as: String.self)
        let outsider = try await db.query("SELECT upn FROM pupils WHERE id = $1", try await fixture.pupil(3, sen: "K")).scalar(as: String.self)
        func group(_ upns: [String]) -> PlanInput {
            PlanInput(
                strategies: "Daily 20-minute group", nextReview: Self.day(42),
                targets: upns.map { TargetInput(upn: $0, description: "Read 20 more common words", byDate: Self.day(40)) })
        }
        await #expect(throws: PlanError.self) {
            try await Plans.create(db, school: "139001", kind: .group, provision: "reading", group([upn, outsider]), by: Self.lead)
        }
        let planID = try await Plans.create(db, school: "139001", kind: .group, provision: "reading", group([upn, secondUPN]), by: Self.lead)
        let plan = try #require(try await Plans.read(db, plan: planID))
        #expect(plan.provision?.id == "reading" && plan.pupil == nil)
        #expect(plan.current?.targets.map(\.upn) == [upn, secondUPN])
        #expect(plan.current?.provisions.map(\.id) == ["reading"], "a group plan is served by its own provision")
        #expect(try await Plans.forPupil(db, upn: secondUPN).map(\.id) == [planID])
        #expect(try await Plans.forPupil(db, upn: outsider).isEmpty)
    }

    @Test func addingATargetBetweenReviewsMakesANewVersionAndKeepsTheOld() async throws {
        let (fixture, upn, _) = try await Self.school("plan-add-target")
        let db = fixture.db
        let planID = try await Plans.create(db, school: "139001", kind: .senSupport, pupil: upn, Self.firstPlan(upn: upn), by: Self.lead)
        let version = try await Plans.addTargets(
            db, plan: planID, [TargetInput(description: "Write two sentences about a story", byDate: Self.day(30))], by: Self.lead)
        #expect(version == 2)
        let plan = try #require(try await Plans.read(db, plan: planID))
        #expect(plan.versions.map { $0.targets.count } == [2, 3])
        #expect(plan.versions[1].targets.last?.description == "Write two sentences about a story")
        #expect(plan.versions[1].nextReview == plan.versions[0].nextReview && plan.versions[1].fromReviewID == nil)
        #expect(plan.versions[1].provisions.map(\.id) == ["reading"])
        await #expect(throws: PlanError.self) {
            try await Plans.addTargets(db, plan: planID, [TargetInput(description: "Due yesterday", byDate: Self.day(-1))], by: Self.lead)
        }
        #expect(try await Plans.read(db, plan: planID)?.versions.count == 2, "a refused target makes no version")
    }
}
