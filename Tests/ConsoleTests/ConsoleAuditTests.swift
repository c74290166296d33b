import Foundation
import Postgres
import ProvisionAccounts
import ProvisionModel
import Testing

/// A change and its audit entry stand or fall together: with the audit log refusing rows
/// (a trigger, standing in for a full disk or a broken table), no change goes through.
@Suite struct ConsoleAuditTests {
    let north = ConsoleHarness.north, upn = ConsoleHarness.northPupil

    @Test func noChangeIsWrittenWithoutItsAuditEntry() async throws {
        let harness = try await ConsoleHarness.make("audit-atomic")
        try await harness.user("senco@north.example", .senco, schools: [north])
        let alert = try await harness.alertID(school: north)
        try await harness.run { browser in
            try await browser.signIn("senco@north.example")
            try await harness.db { db in
                try await db.runScript(
                    """
                    CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN RAISE EXCEPTION 'audit log unavailable'; END $$;
                    CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION refuse_audit();
                    """)
            }
            let answer = try await browser.request(.post, "/api/v1/alerts/\(alert)/acknowledge", json: .object(["note": .string("seen")]))
            #expect(answer.status == .internalServerError)
            let exit = try await browser.request(
                .post, "/api/v1/schools/\(north)/provisions/reading-1/pupils/\(upn)", json: .object(["exit_value": .number(95)]))
            #expect(exit.status == .internalServerError)
            let plan = try await browser.request(.post, "/api/v1/pupils/\(upn)/plans", json: ConsolePlanTests.plan)
            #expect(plan.status == .internalServerError)
            browser.forget()
            #expect(try await browser.signIn("senco@north.example").status == .internalServerError)
            #expect(browser.cookie == nil, "no session without its sign-in entry")
        }
        let (answer, exit, plans, runs) = try await harness.db { db in
            (try await db.query("SELECT answer FROM alerts WHERE id = $1", alert).scalar(as: String?.self),
             try await db.query("SELECT exit_value::text FROM enrolments e JOIN pupils p ON p.id = e.pupil_id WHERE p.upn = $1", upn)
                .scalar(as: String?.self),
             try await db.query("SELECT count(*)::int FROM support_plans").scalar(as: Int.self),
             try await db.query("SELECT status FROM import_runs").rows.map { try $0.decode("status", as: String.self) })
        }
        #expect(answer == nil && exit == nil && plans == 0)
        #expect(try await harness.db { try await $0.query("SELECT count(*)::int FROM console_sessions").scalar(as: Int.self) } == 1)
        #expect(runs == ["failed"], "the edit's import run is recorded as failed, its data rolled back")
    }
}
