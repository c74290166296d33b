import Foundation
import Postgres
import ProvisionImport
import ProvisionStore
import ProvisionTestSupport
import Testing

/// The three formats a school has, imported in order into a real database: the CTF gives
/// pupils and SEN, the marksheet assessments, the provision map interventions.
@Suite("built-in importers into the database")
struct BuiltInImportTests {
    static let root = BuiltInPluginCheckTests.root

    @Test func ctfThenMarksheetThenProvisionMap() async throws {
        let folder = try TestProcess.temporaryDirectory("builtin")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let url = try await TestPostgres.shared.freshDatabase("builtin")
        let db = try await PostgresConnection.connect(url)
        try await Migrator().migrate(db)
        let pipeline = ImportPipeline(database: .external(url), scratchRoot: folder)
        let catalog = PluginCatalog.discover(in: [Self.root + "/Plugins"])
        #expect(catalog.problems.isEmpty, "\(catalog.problems)")
        func run(_ plugin: String, _ fixture: String, env: [String: String] = [:]) async throws -> ImportSummary {
            let manifest = try #require(catalog.plugin(named: plugin))
            return try await pipeline.run(ImportRequest(
                sourceName: plugin, plugin: manifest, path: "\(Self.root)/Plugins/\(plugin)/fixtures/\(fixture)",
                schools: [("139001", "Fenland Primary")], environment: env))
        }

        let ctf = try await run("ctf", "good")
        #expect(ctf.status == .succeeded, "\(ctf.failure ?? "")")
        let zoe = try #require(try await db.query(
            "SELECT sen_provision, year_group, surname, sen_start_date::text AS since FROM pupils WHERE upn = $1", "W801200025001").singleRow())
        #expect(try zoe.decode("sen_provision", as: String.self) == "E")  // the open period, not the ended K
        #expect(try zoe.decode("year_group", as: String.self) == "3")  // not the SuppInfo value
        #expect(try zoe.decode("surname", as: String.self) == "O'Neill")  // stray spaces trimmed
        #expect(try zoe.decode("since", as: String.self) == "2024-01-09")
        let needs = try await db.query(
            "SELECT code FROM pupil_needs n JOIN pupils p ON p.id = n.pupil_id WHERE p.upn = $1 ORDER BY rank", "W801200025001"
        ).rows.map { try $0.decode("code", as: String.self) }
        #expect(needs == ["SPLD", "SLCN"])
        #expect(try await db.query("SELECT sen_provision FROM pupils WHERE upn = $1", "K801200025002").scalar(as: String.self) == "N")
        #expect(try await db.query("SELECT laestab FROM schools WHERE urn = '139001'").scalar(as: String.self) == "8012000")

        let marks = try await run("mis-csv", "good/sims-assessments.csv", env: ["MAPPING": "sims-assessments"])
        #expect(marks.status == .succeeded, "\(marks.failure ?? "") \(marks.firstReasons)")
        let salford = try await db.query(
            "SELECT count(*) FROM assessments WHERE instrument = 'Salford' AND measure = 'age_months'").scalar(as: Int.self)
        #expect(salford == 3)

        let map = try await run("provision-map", "good/provision-map.csv")
        #expect(map.status == .succeeded, "\(map.failure ?? "") \(map.firstReasons)")
        let reading = try #require(try await db.query(
            """
            SELECT p.outcome_measure, p.wave, p.group_size, count(e.id) AS pupils, string_agg(s.staff_id, ',') AS staff
              FROM provisions p LEFT JOIN enrolments e ON e.provision_id = p.id
              LEFT JOIN provision_staff ps ON ps.provision_id = p.id LEFT JOIN staff s ON s.id = ps.staff_id
             WHERE p.provision_id = 'reading-catch-up-2025-09-08'
             GROUP BY p.outcome_measure, p.wave, p.group_size
            """).singleRow())
        #expect(try reading.decode("outcome_measure", as: String.self) == "age_months")
        #expect(try reading.decode("wave", as: Int.self) == 2)
        #expect(try reading.decode("pupils", as: Int.self) == 2)
        #expect(try reading.decode("staff", as: String.self) == "j-patel,j-patel")
        let exit = try await db.query(
            "SELECT exit_value::float8 FROM enrolments e JOIN pupils p ON p.id = e.pupil_id WHERE p.upn = $1", "W801200025001"
        ).scalar(as: Double.self)
        #expect(exit == 83)

        // A marksheet row for a pupil the trust does not know is rejected at merge, with its reason.
        let strayFolder = folder + "/stray"
        try FileManager.default.createDirectory(atPath: strayFolder, withIntermediateDirectories: true)
        let marksheet = try String(contentsOfFile: "\(Self.root)/Plugins/mis-csv/fixtures/good/sims-assessments.csv", encoding: .windowsCP1252)
        try (marksheet + "R801200025006,Okafor,90,15/09/2025,,\r\n").write(toFile: strayFolder + "/marks.csv", atomically: true, encoding: .windowsCP1252)
        let manifest = try #require(catalog.plugin(named: "mis-csv"))
        let stray = try await pipeline.run(ImportRequest(
            sourceName: "stray", plugin: manifest, path: strayFolder, schools: [("139001", "Fenland Primary")],
            environment: ["MAPPING": "sims-assessments"], maxRejected: 0.5))
        #expect(stray.status == .succeeded)
        #expect(stray.firstReasons.contains { $0.contains("1 assessment record(s): assessment.upn is not a pupil known to the trust") })

        // The CTF again: nothing changes, and the provision-map rows are untouched.
        let again = try await run("ctf", "good")
        #expect(again.status == .unchanged)
        await db.close()
    }
}
