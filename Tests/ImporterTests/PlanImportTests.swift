import Foundation
import Postgres
import ProvisionImport
import ProvisionStore
import ProvisionTestSupport
import Testing

/// A school's existing plans imported from the spreadsheet template (the `plans` importer)
/// after its pupils and provision map: one version per plan, none when the sheet is
/// unchanged, one more when it changed, and a plan reviewed in the console kept.
@Suite struct PlanImportTests {
    static let root = BuiltInPluginCheckTests.root

    @Test func plansImportOnceChangeIntoNewVersionsAndYieldToTheConsole() async throws {
        let folder = try TestProcess.temporaryDirectory("plans-import")
        let url = try await TestPostgres.shared.freshDatabase("plans-import")
        let db = try await PostgresConnection.connect(url)
        try await Migrator().migrate(db)
        let pipeline = ImportPipeline(database: .external(url), scratchRoot: folder + "/scratch")
        let catalog = PluginCatalog.discover(in: [Self.root + "/Plugins"])
        #expect(catalog.problems.isEmpty, "\(catalog.problems)")
        func run(_ plugin: String, _ path: String) async throws -> ImportSummary {
            try await pipeline.run(ImportRequest(
                sourceName: plugin, plugin: try #require(catalog.plugin(named: plugin)), path: path,
                schools: [("139001", "Fenland Primary")], force: true))
        }
        func versions() async throws -> [String] {
            try await db.query(
                """
                SELECT sp.import_ref || ' v' || v.version || ' ' || count(t.id) || ' targets' AS line
                  FROM support_plans sp JOIN plan_versions v ON v.plan_id = sp.id LEFT JOIN plan_targets t ON t.plan_version_id = v.id
                 GROUP BY sp.import_ref, v.version ORDER BY sp.import_ref, v.version
                """
            ).rows.map { try $0.decode("line", as: String.self) }
        }
        let fixtures = Self.root + "/Plugins"
        #expect(try await run("ctf", fixtures + "/ctf/fixtures/good").status == .succeeded)
        #expect(try await run("provision-map", fixtures + "/provision-map/fixtures/good/provision-map.csv").status == .succeeded)

        let sheet = folder + "/plans.csv"
        let original = try String(contentsOfFile: fixtures + "/plans/fixtures/good/plans.csv", encoding: .utf8)
        try original.write(toFile: sheet, atomically: true, encoding: .utf8)
        let first = try await run("plans", sheet)
        #expect(first.status == .succeeded, "\(first.failure ?? "") \(first.firstReasons)")
        #expect(try await versions() == ["FP-2025-01 v1 2 targets", "FP-2025-02 v1 1 targets"])
        let linked = try #require(try await db.query(
            """
            SELECT t.instrument, t.measure, t.target_value::float8 AS value, p.upn, sp.kind,
                   (SELECT string_agg(pr.provision_id, ',') FROM plan_provisions pp JOIN provisions pr ON pr.id = pp.provision_id
                     WHERE pp.plan_version_id = v.id) AS provisions
              FROM plan_targets t JOIN plan_versions v ON v.id = t.plan_version_id JOIN support_plans sp ON sp.id = v.plan_id
              JOIN pupils p ON p.id = t.pupil_id
             WHERE sp.import_ref = 'FP-2025-01' AND t.position = 2
            """).singleRow())
        #expect(try linked.decode("instrument", as: String.self) == "Salford" && linked.decode("measure", as: String.self) == "age_months")
        #expect(try linked.decode("value", as: Double.self) == 96 && linked.decode("upn", as: String.self) == "W801200025001")
        #expect(try linked.decode("provisions", as: String.self) == "reading-catch-up-2025-09-08")
        #expect(try await db.query("SELECT kind FROM support_plans WHERE import_ref = 'FP-2025-02'").scalar(as: String.self) == "ehcp")

        let again = try await run("plans", sheet)
        #expect(again.status == .succeeded)
        #expect(try await versions() == ["FP-2025-01 v1 2 targets", "FP-2025-02 v1 1 targets"], "an unchanged sheet makes no version")

        try original.replacingOccurrences(of: "Use two-word phrases to ask for help", with: "Use three-word phrases to ask for help")
            .write(toFile: sheet, atomically: true, encoding: .utf8)
        let changed = try await run("plans", sheet)
        #expect(changed.status == .succeeded)
        #expect(try await versions() == ["FP-2025-01 v1 2 targets", "FP-2025-02 v1 1 targets", "FP-2025-02 v2 1 targets"])

        // A review in the console makes version 3 of FP-2025-02; the old sheet no longer wins.
        let plan = try await db.query("SELECT id FROM support_plans WHERE import_ref = 'FP-2025-02'").scalar(as: Int64.self)
        let target = try await db.query(
            "SELECT t.id FROM plan_targets t JOIN plan_versions v ON v.id = t.plan_version_id WHERE v.plan_id = $1 AND v.version = 2", plan
        ).scalar(as: Int64.self)
        try await db.runScript(
            """
            INSERT INTO plan_reviews (plan_version_id, held_on, attendees, created_by)
            SELECT id, current_date, 'SENCO, dad', 'senco@fenland.example' FROM plan_versions WHERE plan_id = \(plan) AND version = 2;
            INSERT INTO review_ratings (review_id, target_id, rating) SELECT max(id), \(target), 'partly' FROM plan_reviews;
            INSERT INTO plan_versions (plan_id, version, next_review, from_review_id, created_by)
            SELECT \(plan), 3, current_date + 60, max(id), 'senco@fenland.example' FROM plan_reviews;
            """)
        try original.write(toFile: sheet, atomically: true, encoding: .utf8)
        let stale = try await run("plans", sheet)
        #expect(stale.status == .succeeded)
        #expect(stale.merge.keptConsoleEdits == 1)
        #expect(try await versions().last == "FP-2025-02 v3 0 targets", "the console's version 3 is still the plan")
        let warnings = try await db.query(
            "SELECT ref, reason FROM rejected_records WHERE import_run_id = $1 AND severity = 'warning'", stale.runID
        ).rows.map { "\(try $0.decode("ref", as: String.self)): \(try $0.decode("reason", as: String.self))" }
        #expect(warnings.count == 1 && warnings.first?.hasPrefix("FP-2025-02: this plan was reviewed in the console on ") == true, "\(warnings)")

        // A plan for a pupil the school does not have is refused with the reason.
        try (original + "FP-9,Z801200025999,,,,,,,20/01/2026,,,Read more,15/01/2026,,,,,\n").write(toFile: sheet, atomically: true, encoding: .utf8)
        let stranger = try await pipeline.run(ImportRequest(
            sourceName: "plans", plugin: try #require(catalog.plugin(named: "plans")), path: sheet,
            schools: [("139001", "Fenland Primary")], maxRejected: 0.5, force: true))
        #expect(stranger.firstReasons.contains { $0.contains("plan.upn is not a pupil of this plan's school") }, "\(stranger.firstReasons)")
        await db.close()
    }
}
