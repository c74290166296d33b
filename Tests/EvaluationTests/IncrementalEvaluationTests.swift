import Foundation
import Postgres
import ProvisionConfig
@testable import ProvisionEvaluation
import ProvisionModel
import ProvisionPlans
import ProvisionReports
import ProvisionTestSupport
import Testing

/// Only schools whose data changed are evaluated again; the others' results are carried
/// over, and must be exactly what evaluating them again would give.
@Suite("incremental evaluation")
struct IncrementalEvaluationTests {
    static let asOf = SchoolDate(iso: "2026-11-29")!

    func covered(_ db: PostgresConnection, run: Int64) async throws -> (evaluated: [Int64], carried: [Int64]) {
        let rows = try await db.query(
            "SELECT school_id, reused_from FROM evaluation_run_schools WHERE evaluation_run_id = $1 ORDER BY school_id", run
        ).rows
        var result: (evaluated: [Int64], carried: [Int64]) = ([], [])
        for row in rows {
            let school: Int64 = try row.decode("school_id")
            if try row.decode("reused_from", as: Int64?.self) == nil { result.evaluated.append(school) } else { result.carried.append(school) }
        }
        return result
    }

    @Test func onlyChangedSchoolsAreEvaluatedAndCarriedResultsMatchAFullRun() async throws {
        let trust = try await GeneratedTrust.imported("incremental", pupils: 1500, schools: 3, seed: 4)
        defer { trust.remove() }

        let db = try await PostgresConnection.connect(trust.url)
        let evaluator = Evaluator(settings: .init())
        let schools = try await db.query("SELECT id FROM schools ORDER BY id").rows.map { try $0.decode("id", as: Int64.self) }
        #expect(schools.count == 3)

        let first = try await evaluator.run(db, asOf: Self.asOf, full: true)
        #expect((first.schoolsEvaluated, first.schoolsUnchanged) == (3, 0))
        let firstPicture = try await runPicture(db, run: first.runID)
        #expect(firstPicture.contains { $0.hasPrefix("evaluation_flags") }, "the trust raises flags")
        #expect(firstPicture.contains { $0.hasPrefix("enrolment_outcomes") }, "the trust has outcomes")

        // Read a few pupils a page (many pages, some ranges scattered): the same results.
        var paged = evaluator
        paged.pupilsPerPage = 7
        let pagedRun = try await paged.run(db, asOf: Self.asOf, full: true)
        #expect(try await runPicture(db, run: pagedRun.runID) == firstPicture)
        #expect(pagedRun.stallNotJudged == first.stallNotJudged)
        // The same pages read on three connections, as the daemon and the command line read
        // them: the same results again.
        var shared = paged
        shared.openHelper = { try await PostgresConnection.connect(trust.url) }
        let sharedRun = try await shared.run(db, asOf: Self.asOf, full: true)
        #expect(try await runPicture(db, run: sharedRun.runID) == firstPicture)
        #expect(sharedRun.stallNotJudged == first.stallNotJudged)

        // Nothing changed: every school carried over, with exactly the same results.
        let second = try await evaluator.run(db, asOf: Self.asOf)
        #expect((second.schoolsEvaluated, second.schoolsUnchanged) == (0, 3))
        #expect(try await covered(db, run: second.runID).carried == schools)
        #expect(try await runPicture(db, run: second.runID) == firstPicture)
        #expect(second.flags == first.flags)
        #expect(second.stallNotJudged == first.stallNotJudged)

        // An administrator's own SQL changes one pupil's exit score in the last school:
        // only that school is evaluated again.
        let changedSchool = schools[2]
        let changed = try await db.execute(
            """
            UPDATE enrolments SET exit_value = exit_value + 24
             WHERE id = (SELECT e.id FROM enrolments e JOIN provisions pr ON pr.id = e.provision_id
                          WHERE pr.school_id = $1 AND e.exit_value IS NOT NULL AND pr.outcome_measure = 'age_months'
                          ORDER BY e.id LIMIT 1)
            """, changedSchool)
        #expect(changed == 1)
        let third = try await evaluator.run(db, asOf: Self.asOf)
        #expect((third.schoolsEvaluated, third.schoolsUnchanged) == (1, 2))
        let thirdCovered = try await covered(db, run: third.runID)
        #expect(thirdCovered.evaluated == [changedSchool])
        #expect(thirdCovered.carried == Array(schools[0..<2]))
        let thirdPicture = try await runPicture(db, run: third.runID)
        #expect(thirdPicture != firstPicture, "the change shows in the results")

        // Evaluating everything again gives what the incremental run gave.
        let fourth = try await evaluator.run(db, asOf: Self.asOf, full: true)
        #expect((fourth.schoolsEvaluated, fourth.schoolsUnchanged) == (3, 0))
        #expect(try await runPicture(db, run: fourth.runID) == thirdPicture)

        // Another date, or other settings, evaluate every school again.
        let nextDay = SchoolDate(iso: "2026-11-30")!
        #expect(try await evaluator.run(db, asOf: nextDay).schoolsEvaluated == 3)
        #expect(try await evaluator.run(db, asOf: nextDay).schoolsEvaluated == 0)
        var stricter = Configuration.Evaluation()
        stricter.instruments["Salford"]?.error = 5
        #expect(try await Evaluator(settings: stricter).run(db, asOf: nextDay).schoolsEvaluated == 3)

        // A school's own evaluation carries it over too when nothing changed.
        let urn = try await db.query("SELECT urn FROM schools WHERE id = $1", changedSchool).scalar(as: String.self)
        let alone = try await Evaluator(settings: stricter).run(db, school: urn, asOf: nextDay)
        #expect((alone.schoolsEvaluated, alone.schoolsUnchanged) == (0, 1))
        await db.close()
    }

    /// Every table the evaluation reads raises the data version of the school a changed row
    /// belongs to, and of no other.
    @Test func everyChangeRaisesTheVersionOfEverySchoolThatReadsIt() async throws {
        let f = try await EvaluationFixture.make("eval-versions")
        let other = try await f.db.query("INSERT INTO schools (urn, name) VALUES ('139002', 'Other') RETURNING id").scalar(as: Int64.self)
        func versions() async throws -> (mine: Int64, other: Int64) {
            (try await f.db.query("SELECT data_version FROM schools WHERE id = $1", f.school).scalar(as: Int64.self),
             try await f.db.query("SELECT data_version FROM schools WHERE id = $1", other).scalar(as: Int64.self))
        }
        var last = try await versions()
        func expectRaised(_ what: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
            let now = try await versions()
            #expect(now.mine > last.mine, "\(what) raises its school's version", sourceLocation: sourceLocation)
            #expect(now.other == last.other, "\(what) leaves the other school's alone", sourceLocation: sourceLocation)
            last = now
        }
        let pupil = try await f.pupil(1, sen: "K")
        try await expectRaised("a new pupil")
        try await f.assessment(pupil, "age_months", 100, "2025-09-10")
        try await expectRaised("a new assessment")
        try await f.db.execute("UPDATE assessments SET value = 101")
        try await expectRaised("a changed assessment")
        // A source bound to both schools may file a pupil's result, or enrol the pupil in a
        // provision, under the other one. The pupil's school is evaluated on both (the stall
        // rule reads every result of its pupils, the need rule every enrolment), so its
        // version rises with the other school's.
        func expectBothRaised(_ what: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
            let now = try await versions()
            #expect(now.mine > last.mine, "\(what) raises the pupil's school's version", sourceLocation: sourceLocation)
            #expect(now.other > last.other, "\(what) raises the other school's version", sourceLocation: sourceLocation)
            last = now
        }
        try await f.db.execute(
            "INSERT INTO assessments (pupil_id, school_id, instrument, subject, measure, value, assessed_on) "
                + "VALUES ($1, $2, 'Salford', 'reading', 'age_months', 104, '2025-12-10')", pupil, other)
        try await expectBothRaised("a result filed under the other school")
        try await f.db.execute("UPDATE assessments SET value = 105 WHERE school_id = $1", other)
        try await expectBothRaised("that result changed")
        try await f.db.execute("DELETE FROM assessments WHERE school_id = $1", other)
        try await expectBothRaised("that result removed")
        let elsewhere = try await f.db.query(
            "INSERT INTO provisions (school_id, provision_id, name) VALUES ($1, 'CLUB', 'Lunch club') RETURNING id", other
        ).scalar(as: Int64.self)
        last = try await versions()
        try await f.db.execute(
            "INSERT INTO enrolments (provision_id, pupil_id, start_date, status) VALUES ($1, $2, '2025-09-15', 'active')",
            elsewhere, pupil)
        try await expectBothRaised("an enrolment in the other school's provision")
        try await f.db.execute("UPDATE enrolments SET status = 'completed' WHERE provision_id = $1", elsewhere)
        try await expectBothRaised("that enrolment changed")
        try await f.db.execute("DELETE FROM enrolments WHERE provision_id = $1", elsewhere)
        try await expectBothRaised("that enrolment removed")
        // While the pupil is in the other school's provision, that school's evaluation reads
        // their results (entry and exit) and year group (peers): a change to either raises it.
        try await f.db.execute(
            "INSERT INTO enrolments (provision_id, pupil_id, start_date, status) VALUES ($1, $2, '2025-09-15', 'active')",
            elsewhere, pupil)
        try await expectBothRaised("enrolling again")
        try await f.assessment(pupil, "age_months", 106, "2026-01-10")
        try await expectBothRaised("a result of a pupil in the other school's provision")
        try await f.db.execute("UPDATE pupils SET year_group = '4' WHERE id = $1", pupil)
        try await expectBothRaised("that pupil's year group")
        try await f.db.execute("DELETE FROM enrolments WHERE provision_id = $1", elsewhere)
        try await expectBothRaised("leaving the other school's provision")
        let group = try await f.provision("READ")
        try await expectRaised("a new provision")
        try await f.enrol(group, pupil)
        try await expectRaised("an enrolment")
        try await f.db.execute("INSERT INTO pupil_needs (pupil_id, code, rank) VALUES ($1, 'SPLD', 1)", pupil)
        try await expectRaised("a pupil's need")
        try await f.db.execute("DELETE FROM pupil_needs")
        try await expectRaised("a need removed")
        try await f.db.execute("INSERT INTO staff (school_id, staff_id, name, hourly_cost) VALUES ($1, 'T1', 'Teacher', 20)", f.school)
        try await expectRaised("a member of staff")
        try await f.db.execute("INSERT INTO provision_staff (provision_id, staff_id) SELECT $1, id FROM staff", group)
        try await expectRaised("a provision's staff")
        try await f.db.execute("UPDATE pupils SET sen_provision = 'E'")
        try await expectRaised("a pupil's SEN status")

        let upn = try await f.db.query("SELECT upn FROM pupils WHERE id = $1", pupil).scalar(as: String.self)
        let today = SchoolDate(iso: "2026-01-31")!
        let spring = SchoolDate(iso: "2026-03-01")!
        let plan = try await Plans.create(
            f.db, school: "139001", kind: .senSupport, pupil: upn,
            PlanInput(nextReview: spring, targets: [TargetInput(description: "Read a book aloud", byDate: spring)]),
            by: "senco@test.example", today: today)
        try await expectRaised("a new plan")
        try await Plans.recordShare(f.db, plan: plan, on: SchoolDate(iso: "2026-01-10")!, how: "a letter home", by: "senco@test.example", today: today)
        try await expectRaised("sharing a plan")
        await f.db.close()
    }

    /// Reports read each school's results from the latest run that covered it, so one
    /// school's own evaluation does not hide another's.
    @Test func reportsReadEachSchoolsLatestCoveringRun() async throws {
        let f = try await EvaluationFixture.make("eval-readers")
        let reading = try await f.provision("RCU")
        try await f.enrol(reading, try await f.pupil(1), entry: (70, "2025-09-10"), exit: (85, "2025-12-15"))
        let other = try await f.db.query("INSERT INTO schools (urn, name) VALUES ('139002', 'Other') RETURNING id").scalar(as: Int64.self)
        let pupil = try await f.db.query(
            """
            INSERT INTO pupils (upn, school_id, surname, forename, dob, year_group, sen_provision)
            VALUES ($1, $2, 'S', 'F', '2016-05-01', '4', 'N') RETURNING id
            """, UPN.withCheckLetter("801200025901")!, other
        ).scalar(as: Int64.self)
        let group = try await f.db.query(
            """
            INSERT INTO provisions (school_id, provision_id, name, start_date, end_date, outcome_instrument, outcome_subject, outcome_measure)
            VALUES ($1, 'RCU', 'RCU', '2025-03-02', '2025-05-20', 'Salford', 'reading', 'age_months') RETURNING id
            """, other
        ).scalar(as: Int64.self)
        try await f.db.execute(
            """
            INSERT INTO enrolments (provision_id, pupil_id, start_date, end_date, status, entry_value, entry_date, exit_value, exit_date)
            VALUES ($1, $2, '2025-03-02', '2025-05-20', 'completed', 60, '2025-03-01', 66, '2025-05-21')
            """, group, pupil)
        _ = try await f.evaluate()
        // 139001 alone is evaluated after a change: 139002's results are still the trust run's.
        try await f.db.execute("UPDATE enrolments SET exit_value = 86 WHERE provision_id = $1", reading)
        let alone = try await Evaluator(settings: .init()).run(f.db, school: "139001", asOf: EvaluationFixture.asOf)
        #expect(alone.schoolsEvaluated == 1)
        let otherTerm = try await Reports.latestTermWithOutcomes(db: f.db, school: "139002")
        #expect(otherTerm?.title == ReportTerm(containing: SchoolDate(iso: "2025-05-20")!).title)
        let ownTerm = try await Reports.latestTermWithOutcomes(db: f.db, school: "139001")
        #expect(ownTerm?.title == ReportTerm(containing: SchoolDate(iso: "2025-12-12")!).title)
        await f.db.close()
    }
}
