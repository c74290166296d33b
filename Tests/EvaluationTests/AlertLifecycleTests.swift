import Foundation
import Postgres
import ProvisionAlerts
import ProvisionConfig
import ProvisionEvaluation
import ProvisionModel
import ProvisionTestSupport
import Testing

@Suite("alert lifecycle")
struct AlertLifecycleTests {
    /// Evaluates and applies the alerts; `beforeCommit` then runs in the transaction.
    func evaluate(
        _ f: EvaluationFixture, school: String? = nil, beforeCommit: (PostgresConnection) async throws -> Void = { _ in }
    ) async throws -> AlertChanges {
        var changes = AlertChanges()
        _ = try await Evaluator(settings: .init()).run(f.db, school: school, asOf: EvaluationFixture.asOf) { db, run in
            changes = try await AlertLifecycle.apply(db, runID: run)
            try await beforeCommit(db)
        }
        return changes
    }

    /// Evaluates as the daemon does (``evaluateAndAlert``): the results read on two more
    /// connections, and each rule's alerts applied as soon as its flags are in (the rules
    /// raised from the records first, while the results are read). The changes, and the
    /// steps' names.
    func evaluateInParts(_ f: EvaluationFixture, _ settings: Configuration.Evaluation) async throws -> (AlertChanges, [String]) {
        var config = try MailTests.config(maildir: "/nonexistent")
        config.evaluation = settings
        let url = f.url
        let (summary, changes) = try await evaluateAndAlert(
            f.db, config: config, asOf: EvaluationFixture.asOf, openHelper: { try await PostgresConnection.connect(url) })
        return (changes, summary.steps.map(\.name))
    }

    func alerts(_ f: EvaluationFixture) async throws -> [(rule: String, status: String, pupil: Int64?)] {
        try await f.db.query("SELECT rule, status, pupil_id FROM alerts ORDER BY id").rows.map {
            (try $0.decode("rule"), try $0.decode("status"), try $0.decode("pupil_id"))
        }
    }

    @Test func openedKeptThenResolvedNeverDuplicated() async throws {
        let f = try await EvaluationFixture.make("alerts")
        let needy = try await f.pupil(1, sen: "K")
        let first = try await evaluate(f)
        #expect(first == AlertChanges(opened: 1, kept: 0, resolved: 0))
        // Re-evaluating unchanged data keeps the alert: one row, still open.
        let second = try await evaluate(f)
        #expect(second == AlertChanges(opened: 0, kept: 1, resolved: 0))
        #expect(try await alerts(f).count == 1)
        // Provision starts: the condition goes, so the alert is resolved.
        let group = try await f.provision("TALK", measure: nil, start: "2026-01-05", end: "2026-03-27")
        try await f.enrol(group, needy, start: "2026-01-05", end: "2026-03-27", status: "active")
        let third = try await evaluate(f)
        #expect(third == AlertChanges(opened: 0, kept: 0, resolved: 1))
        let states = try await alerts(f)
        #expect(states.map(\.status) == ["resolved"])
        #expect(states.first?.rule == "need_without_provision")
        #expect(states.first?.pupil == needy)
        // The condition coming back opens a new alert beside the resolved one.
        try await f.db.execute("UPDATE enrolments SET status = 'withdrawn'")
        #expect(try await evaluate(f) == AlertChanges(opened: 1, kept: 0, resolved: 0))
        #expect(try await alerts(f).map(\.status) == ["resolved", "open"])
    }

    @Test func rulesAppliedInPartsKeepEachOthersAlerts() async throws {
        let f = try await EvaluationFixture.make("alerts-parts")
        // A pupil whose reading age has stood still since April 2025 (a stall), and a pupil on
        // SEN support with no provision.
        let stalled = try await f.pupil(1)
        let needy = try await f.pupil(2, sen: "K")
        let history = [("2024-01-15", 92.0), ("2024-04-20", 96), ("2024-06-10", 97), ("2024-09-15", 100), ("2024-11-05", 102),
                       ("2025-01-14", 104), ("2025-04-22", 107), ("2025-06-09", 107), ("2025-09-15", 106), ("2025-11-03", 108),
                       ("2026-01-12", 107)]
        for (day, value) in history { try await f.assessment(stalled, "age_months", value, day) }
        var settings = Configuration.Evaluation()
        settings.instruments["Salford"] = Configuration.InstrumentScale(error: 2, floor: 48, ceiling: 190)

        let (first, steps) = try await evaluateInParts(f, settings)
        #expect(first == AlertChanges(opened: 2, kept: 0, resolved: 0))
        #expect(steps.contains("alerts (records)") && steps.contains("alerts (outcomes)"), "\(steps)")
        #expect(try await alerts(f).map(\.rule).sorted() == ["need_without_provision", "stalled_pupil"])
        // Again: the records' part must not resolve the stall's alert (nor the other part the
        // need's), so both are kept, not resolved and opened anew.
        let (second, _) = try await evaluateInParts(f, settings)
        #expect(second == AlertChanges(opened: 0, kept: 2, resolved: 0))
        // Provision starts for the pupil with SEN: only that alert is resolved.
        let group = try await f.provision("TALK", measure: nil, start: "2026-01-05", end: "2026-03-27")
        try await f.enrol(group, needy, start: "2026-01-05", end: "2026-03-27", status: "active")
        let (third, _) = try await evaluateInParts(f, settings)
        #expect(third == AlertChanges(opened: 0, kept: 1, resolved: 1))
        let states = try await alerts(f)
        #expect(states.map(\.status) == ["open", "resolved"] || states.map(\.status) == ["resolved", "open"])
        #expect(states.first { $0.status == "open" }?.pupil == stalled)
    }

    /// A trust run that starts while a school's run is still open (the daemon's two workers
    /// can start both) waits for it, then finds the alerts it opened: both succeed, and no
    /// alert is opened twice. (When both ran at once, the second to commit failed on the
    /// unique open alert and was retried a minute later.)
    @Test func evaluationsOfTheSameSchoolTakeTurns() async throws {
        let f = try await EvaluationFixture.make("alerts-turns")
        try await f.pupil(1, sen: "K")
        let other = try await PostgresConnection.connect(f.url)
        let otherPID = try await other.query("SELECT pg_backend_pid()").scalar(as: Int32.self)
        var trustRun: Task<AlertChanges, any Error>?
        var waited = false
        let first = try await evaluate(f, school: "139001") { db in
            trustRun = Task {
                var changes = AlertChanges()
                _ = try await Evaluator(settings: .init()).run(other, asOf: EvaluationFixture.asOf) { db, run in
                    changes = try await AlertLifecycle.apply(db, runID: run)
                }
                return changes
            }
            // The school's run commits only once the trust run waits on a lock.
            waited = try await eventually {
                try await db.query("SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1", otherPID)
                    .singleRow()?.decode("wait_event_type", as: String?.self) == "Lock"
            }
        }
        let second = try await #require(trustRun).value
        await other.close()
        #expect(waited)
        #expect(first == AlertChanges(opened: 1, kept: 0, resolved: 0))
        #expect(second == AlertChanges(opened: 0, kept: 1, resolved: 0))
        #expect(try await alerts(f).map(\.status) == ["open"])
    }

    @Test func aSchoolEvaluationLeavesOtherSchoolsAlertsAlone() async throws {
        let f = try await EvaluationFixture.make("alerts-scope")
        try await f.pupil(1, sen: "K")
        let other = try await f.db.query("INSERT INTO schools (urn, name) VALUES ('139002', 'Other') RETURNING id").scalar(as: Int64.self)
        try await f.db.execute(
            """
            INSERT INTO pupils (upn, school_id, surname, forename, dob, sen_provision)
            VALUES ($1, $2, 'S', 'F', '2016-05-01', 'E')
            """, UPN.withCheckLetter("801200025900")!, other)
        #expect(try await evaluate(f).opened == 2)
        // Evaluating 139001 alone must not resolve 139002's alert.
        #expect(try await evaluate(f, school: "139001") == AlertChanges(opened: 0, kept: 1, resolved: 0))
        #expect(try await f.db.query("SELECT count(*) FROM alerts WHERE status = 'open'").scalar(as: Int.self) == 2)
    }
}
