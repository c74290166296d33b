import Foundation
import Postgres
import ProvisionStore
import ProvisionTestSupport
import Testing

/// Names from an MIS are data, never markup: a hostile name through the real renderer,
/// against output written out by hand.
@Suite("report escaping")
struct ReportEscapingTests {
    @Test func aHostileNameIsPrintedAsTextInHTMLAndAsDataInCSV() async throws {
        let folder = try TestProcess.temporaryDirectory("escaping")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let url = try await TestPostgres.shared.freshDatabase("escaping")
        let db = try await PostgresConnection.connect(url)
        try await Migrator().migrate(db)
        let school = try await db.query("INSERT INTO schools (urn, name) VALUES ('139001', 'Fen & Marsh') RETURNING id").scalar(as: Int64.self)
        let pupil = try await db.query(
            """
            INSERT INTO pupils (upn, school_id, surname, forename, dob, year_group, sen_provision)
            VALUES ('A801200025001', $1, $2, $3, '2016-05-01', '4', 'K') RETURNING id
            """, school, "O'Brien & <b>Sons</b>", "<script>alert(\"x\")</script>").scalar(as: Int64.self)
        let provision = try await db.query(
            "INSERT INTO provisions (school_id, provision_id, name, start_date) VALUES ($1, 'p1', '=HYPERLINK(\"x\")', '2026-09-07') RETURNING id",
            school).scalar(as: Int64.self)
        try await db.execute("INSERT INTO enrolments (provision_id, pupil_id, start_date, status) VALUES ($1, $2, '2026-09-07', 'active')", provision, pupil)
        // A spreadsheet skips a leading tab and reads the formula after it.
        let tabbed = try await db.query(
            "INSERT INTO provisions (school_id, provision_id, name, start_date) VALUES ($1, 'p2', $2, '2026-09-07') RETURNING id",
            school, "\t=HYPERLINK(\"y\")").scalar(as: Int64.self)
        try await db.execute("INSERT INTO enrolments (provision_id, pupil_id, start_date, status) VALUES ($1, $2, '2026-09-07', 'active')", tabbed, pupil)
        await db.close()
        let config = try TestProcess.writeConfig(in: folder, databaseURL: url, extra: """
            [[schools]]
            urn = "139001"
            name = "Fen & Marsh"
            """)
        let ctl = TestProcess.executable("provisionctl")
        let html = try await TestProcess.run(ctl, ["--config", config, "report", "pupil", "--upn", "A801200025001"])
        #expect(html.exitCode == 0, "\(html.standardError)")
        // Written out by hand, not with the renderer's own escaping function.
        #expect(html.standardOutput.contains(
            "<h1>Provision history: &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; O&#39;Brien &amp; &lt;b&gt;Sons&lt;/b&gt;</h1>"),
            "\(html.standardOutput.prefix(2000))")
        #expect(!html.standardOutput.contains("<script>"))
        #expect(!html.standardOutput.contains("<b>Sons"))
        // In CSV a formula-looking value is quoted so Excel shows it as text.
        let csv = try await TestProcess.run(ctl, ["--config", config, "report", "pupil", "--upn", "A801200025001", "--format", "csv"])
        #expect(csv.standardOutput.contains("\"'=HYPERLINK(\"\"x\"\")\""), "\(csv.standardOutput)")
        #expect(csv.standardOutput.contains("\"'\t=HYPERLINK(\"\"y\"\")\""), "\(csv.standardOutput)")
    }
}
