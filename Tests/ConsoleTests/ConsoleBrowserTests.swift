import Foundation
import Postgres
import ProvisionAccounts
import ProvisionModel
import ProvisionTestSupport
import Testing

/// The console in a real browser: Debian's Chromium driven through chromedriver by
/// Selenium (Tests/Support/console-browser.py, from the tests' Python environment that
/// scripts/install-deps --for-tests makes), doing what a SENCO does in a morning.
@Suite struct ConsoleBrowserTests {
    static let python = FileManager.default.currentDirectoryPath + "/.build/test-python/bin/python3"
    static let script = FileManager.default.currentDirectoryPath + "/Tests/Support/console-browser.py"

    @Test func aSENCOAnswersAnAlertEnrolsAPupilRecordsAnExitScoreAndSignsOut() async throws {
        #expect(FileManager.default.isExecutableFile(atPath: Self.python), "run scripts/install-deps --for-tests")
        let harness = try await ConsoleHarness.make("browser")
        try await harness.user("senco@north.example", .senco, schools: [ConsoleHarness.north])
        let alert = try await harness.alertID(school: ConsoleHarness.north)
        let folder = try TestProcess.temporaryDirectory("browser")
        let screenshot = folder + "/dashboard-phone.png"
        try await harness.serve { port in
            let result = try await TestProcess.run(
                Self.python,
                [Self.script, "http://127.0.0.1:\(port)", "senco@north.example", ConsoleHarness.password, ConsoleHarness.north,
                 "reading-1", ConsoleHarness.northPupil2, screenshot])
            #expect(result.exitCode == 0, "\(result.standardOutput)\n\(result.standardError.suffix(2000))")
            #expect(result.standardOutput.contains(#""ok": true"#), "\(result.standardOutput)")
        }

        // What the browser did is in the database, by the SENCO's hand.
        let (answer, by) = try await harness.db { db in
            let row = try #require(try await db.query(
                "SELECT a.answer, x.by_whom FROM alerts a JOIN alert_actions x ON x.alert_id = a.id WHERE a.id = $1", alert).singleRow())
            return (try row.decode("answer", as: String?.self), try row.decode("by_whom", as: String.self))
        }
        #expect(answer == "acknowledged" && by == "senco@north.example")
        let enrolment = try await harness.db { db in
            try await db.query(
                """
                SELECT e.status || ' ' || e.entry_value::text || ' ' || e.exit_value::text AS row
                  FROM enrolments e JOIN pupils p ON p.id = e.pupil_id JOIN provisions pr ON pr.id = e.provision_id
                 WHERE p.upn = $1 AND pr.provision_id = 'reading-1'
                """, ConsoleHarness.northPupil2
            ).rows.map { try $0.decode("row", as: String.self) }
        }
        #expect(enrolment == ["completed 83 92"])
        let actions = try await harness.db { db in
            try await db.query("SELECT action FROM audit_log ORDER BY id").rows.map { try $0.decode("action", as: String.self) }
        }
        #expect(actions == ["signed_in", "alert.acknowledged", "enrolment.added", "enrolment.changed", "signed_out"])

        // The phone-width screenshot: 390 CSS pixels wide, and a page, not a blank.
        let image = try PNGImage(contentsOf: screenshot)
        #expect(image.width == 390)
        #expect(image.inkedShare > 0.05 && image.inkedShare < 0.6, "ink \(image.inkedShare)")
        #expect(image.distinctColours > 20)
    }

    @Test func aSENCOStartsAPlanSharesItAndHoldsItsReview() async throws {
        let harness = try await ConsoleHarness.make("browser-review")
        try await harness.user("senco@north.example", .senco, schools: [ConsoleHarness.north])
        let days = [40, 35, 90].map { SchoolDate(daysSince1970: SchoolDate.today().daysSince1970 + $0).iso }
        try await harness.serve { port in
            let result = try await TestProcess.run(
                Self.python,
                [FileManager.default.currentDirectoryPath + "/Tests/Support/console-review.py", "http://127.0.0.1:\(port)",
                 "senco@north.example", ConsoleHarness.password, ConsoleHarness.northPupil] + days)
            #expect(result.exitCode == 0, "\(result.standardOutput)\n\(result.standardError.suffix(2000))")
            #expect(result.standardOutput.contains(#""ok": true"#), "\(result.standardOutput)")
        }
        let (versions, ratings, shares, voice) = try await harness.db { db in
            (try await db.query("SELECT count(*)::int FROM plan_versions").scalar(as: Int.self),
             try await db.query("SELECT rating || ' ' || evidence AS r FROM review_ratings").rows.map { try $0.decode("r", as: String.self) },
             try await db.query("SELECT how FROM plan_shares").rows.map { try $0.decode("how", as: String.self) },
             try await db.query("SELECT parent_voice FROM plan_reviews").scalar(as: String.self))
        }
        #expect(versions == 2 && ratings == ["partly blends 6 of 10"] && shares == ["meeting with mum"])
        #expect(voice == "She sounds out signs in town")
    }
}
