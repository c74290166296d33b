import Foundation
import Postgres
import ProvisionConfig
import ProvisionModel
import ProvisionPlans
import ProvisionReports
import Testing

/// The reports gain the cycle (issue 18): the pupil report shows plans, targets with their
/// ratings over time and reviews; the parents' version what the pupil is working towards;
/// the provision map counts pupils with a current plan and reviews due this term; the trust
/// view shows each school's plans overdue for review.
@Suite struct PlanReportTests {
    static func configuration() throws -> Configuration {
        let text = """
            [trust]
            name = "Test Trust"

            [[schools]]
            urn = "139001"
            name = "Test Primary"
            """
        return try Configuration.parse(try TOMLDocument(text: text, file: "test.toml"), relativeTo: URL(fileURLWithPath: "/tmp"))
    }

    static func html(_ report: Report) -> String { String(decoding: report.rendered(.html), as: UTF8.self) }

    @Test func reportsShowPlansReviewsAndWhatIsDue() async throws {
        let (fixture, upn, _) = try await PlanLifecycleTests.school("plan-reports")
        let db = fixture.db
        let planID = try await Plans.create(db, school: "139001", kind: .senSupport, pupil: upn, PlanLifecycleTests.firstPlan(upn: upn), by: PlanLifecycleTests.lead)
        let targets = try #require(try await Plans.read(db, plan: planID)?.current?.targets)
        let term = ReportTerm(containing: SchoolDate.today())
        let nextReview = term.end  // due within this term
        try await Plans.holdReview(
            db, plan: planID,
            ReviewInput(
                heldOn: SchoolDate.today(), attendees: "SENCO, mum", pupilVoice: "I like reading with Mrs B",
                parentVoice: "He reads at bedtime now",
                ratings: [targets[0].id: (.achieved, "diary"), targets[1].id: (.notYet, "score 84")],
                decisions: ["reading": (.continue, "")],
                next: PlanInput(
                    nextReview: nextReview > SchoolDate.today() ? nextReview : PlanLifecycleTests.day(1),
                    targets: [TargetInput(description: "Read a chapter book on his own", byDate: PlanLifecycleTests.day(80))],
                    provisionIDs: ["reading"])),
            by: PlanLifecycleTests.lead)
        // A second pupil's plan from an earlier system, already past its review date (written
        // as rows: the library refuses a review date in the past).
        let other = try await fixture.pupil(2, sen: "E")
        try await db.runScript(
            """
            INSERT INTO support_plans (school_id, kind, pupil_id, created_by) VALUES (\(fixture.school), 'ehcp', \(other), 'import@test.example');
            INSERT INTO plan_versions (plan_id, version, next_review, created_by)
            SELECT max(id), 1, current_date - 5, 'import@test.example' FROM support_plans;
            INSERT INTO plan_targets (plan_version_id, position, pupil_id, description, by_date)
            SELECT max(id), 1, \(other), 'Ask for help with words', current_date + 20 FROM plan_versions;
            """)
        let config = try Self.configuration()

        let staff = Self.html(try await Reports.build(ReportRequest(kind: .pupil, term: term, upn: upn), db: db, config: config))
        #expect(staff.contains("SEN support plan: F S"))
        #expect(staff.contains("achieved (\(SchoolDate.today().iso)): diary") && staff.contains("not yet (\(SchoolDate.today().iso)): score 84"))
        #expect(staff.contains("Parents: “He reads at bedtime now”") && staff.contains("reading: continue (evaluation: none)"))
        #expect(staff.contains("Read a chapter book on his own") && staff.contains(">current<"))
        let json = try await Reports.build(ReportRequest(kind: .pupil, term: term, upn: upn), db: db, config: config).json
        guard case .object(let fields) = json, case .array(let plans) = fields["plans"] ?? .null else {
            Issue.record("no plans in \(json.serialized)")
            return
        }
        #expect(plans.count == 1)

        let parents = Self.html(try await Reports.build(ReportRequest(kind: .pupil, term: term, upn: upn, audience: .parent), db: db, config: config))
        #expect(parents.contains("What F is working towards") && parents.contains("Read a chapter book on his own"))

        let map = try await Reports.build(ReportRequest(kind: .provisionMap, school: "139001", term: term), db: db, config: config)
        let facts = Dictionary(map.document.facts.map { ($0.label, $0.value) }, uniquingKeysWith: { first, _ in first })
        #expect(facts["with a current support plan"] == "2")
        // Due this term: ours (when the term has not ended) and the other, five days overdue,
        // when that was still this term.
        let due = (nextReview > SchoolDate.today() ? 1 : 0) + (PlanLifecycleTests.day(-5) >= term.start ? 1 : 0)
        #expect(facts["plan reviews due this term"] == "\(due)")

        let trust = try await Reports.build(ReportRequest(kind: .trust, term: term), db: db, config: config)
        let rows = trust.csvRows
        #expect(trust.csvColumns.suffix(2) == ["with_plan", "plans_overdue_for_review"])
        #expect(rows.first?.suffix(2) == ["2", "1"])
        #expect(Self.html(trust).contains("Plans overdue for review"))
    }
}
