import Foundation
import HTTPTypes
import Postgres
import ProvisionAccounts
import ProvisionImport
import ProvisionModel
import ProvisionTestSupport
import Testing

/// Editing the provision map in the console: through the import pipeline's validation as the
/// `console` source, and kept when a later import disagrees.
@Suite struct ConsoleEditTests {
    let north = ConsoleHarness.north
    let upn = ConsoleHarness.northPupil
    static let started = SchoolDate(daysSince1970: SchoolDate.today().daysSince1970 - 30).iso

    func enrolment(_ harness: ConsoleHarness) async throws -> [String: String] {
        try await harness.db { db in
            let row = try #require(try await db.query(
                """
                SELECT e.status, e.exit_value::text AS exit, e.end_date::text AS end_date, e.edited_in_console IS NOT NULL AS edited
                  FROM enrolments e JOIN pupils p ON p.id = e.pupil_id WHERE p.upn = $1
                """, upn
            ).singleRow())
            return [
                "status": try row.decode("status", as: String?.self) ?? "", "exit": try row.decode("exit", as: String?.self) ?? "",
                "edited": try row.decode("edited", as: Bool.self) ? "yes" : "no",
            ]
        }
    }

    @Test func anEditIsImportedAsTheConsoleSourceAndQueuesTheSchoolsEvaluation() async throws {
        let harness = try await ConsoleHarness.make("edit-api")
        try await harness.user("senco@north.example", .senco, schools: [north])
        try await harness.run { browser in
            try await browser.signIn("senco@north.example")
            let added = try await browser.request(
                .post, "/api/v1/schools/\(north)/provisions",
                json: .object([
                    "provision_id": .string("talk-boost"), "name": .string("Talk Boost"), "area_of_need": .string("CI"),
                    "start_date": .string(Self.started), "outcome_instrument": .string("NGRT"), "outcome_measure": .string("standardised"),
                ]))
            #expect(added.status == .created)
            let enrol = try await browser.request(
                .post, "/api/v1/schools/\(north)/provisions/talk-boost/pupils",
                json: .object(["upn": .string(upn), "start_date": .string(Self.started), "entry_value": .number(84)]))
            #expect(enrol.status == .created)
            let exit = try await browser.request(
                .post, "/api/v1/schools/\(north)/provisions/talk-boost/pupils/\(upn)",
                json: .object(["exit_value": .number(91), "status": .string("completed")]))
            #expect(exit.status == .ok)
            let map = try await browser.request(.get, "/api/v1/schools/\(north)/provisions")
            guard case .object(let fields) = map.json, case .array(let provisions) = fields["provisions"] else {
                Issue.record("no provisions in \(map.body)")
                return
            }
            let talk = provisions.first { $0.field("provision_id") == .string("talk-boost") }
            guard case .array(let pupils) = talk?.field("pupils") else {
                Issue.record("talk-boost has no pupils: \(map.body)")
                return
            }
            #expect(pupils.count == 1)
            #expect(pupils.first?.field("entry") == .number(84) && pupils.first?.field("exit") == .number(91))
            #expect(pupils.first?.field("status") == .string("completed") && pupils.first?.field("edited_in_console") == .bool(true))
        }
        let runs = try await harness.db { db in
            try await db.query("SELECT source, status FROM import_runs ORDER BY id").rows.map {
                "\(try $0.decode("source", as: String.self)) \(try $0.decode("status", as: String.self))"
            }
        }
        #expect(runs == ["console succeeded", "console succeeded", "console succeeded"])
        let jobs = try await harness.db { db in
            try await db.query("SELECT kind, payload->>'school' AS school FROM jobs WHERE state = 'available'").rows.map {
                "\(try $0.decode("kind", as: String.self)) \(try $0.decode("school", as: String.self))"
            }
        }
        #expect(jobs == ["evaluate \(north)"], "one evaluation waits for the school, however many edits")
    }

    @Test func whatAnImportWouldRefuseTheConsoleRefusesWithTheReasonAndWritesNothing() async throws {
        let harness = try await ConsoleHarness.make("edit-refused")
        try await harness.user("senco@north.example", .senco, schools: [north])
        let before = try await enrolment(harness)
        try await harness.run { browser in
            try await browser.signIn("senco@north.example")
            let cases: [(JSONValue, String)] = [
                (.object(["exit_value": .string("ninety")]), "exit.value must be a number"),
                (.object(["exit_value": .number(90), "exit_date": .string("2026-02-30")]), "exit.date"),
                (.object(["status": .string("finished")]), "status"),
                // A year mistyped ahead: a score is dated when it was measured.
                (.object(["exit_value": .number(90), "exit_date": .string("2062-03-01")]), "exit.date 2062-03-01 is in the future"),
            ]
            for (body, reason) in cases {
                let page = try await browser.request(.post, "/api/v1/schools/\(north)/provisions/reading-1/pupils/\(upn)", json: body)
                #expect(page.status == .unprocessableContent, "\(body.serialized)")
                #expect(page.body.contains(reason), "\(page.body)")
            }
            let stranger = try await browser.request(
                .post, "/api/v1/schools/\(north)/provisions/reading-1/pupils", json: .object(["upn": .string(ConsoleHarness.southPupil)]))
            #expect(stranger.status == .unprocessableContent, "a pupil of another school cannot be enrolled here")
            #expect(stranger.body.contains("another school"), "\(stranger.body)")
            let form = try await browser.request(.post, "/schools/\(north)/provisions/reading-1/pupils/\(upn)", form: ["exit_value": "lots"])
            #expect(form.status == .unprocessableContent && form.body.contains("the change was not saved"))
        }
        #expect(try await enrolment(harness) == before)
    }

    /// A shell plugin that prints `lines`, as a MIS importer would.
    func importing(_ harness: ConsoleHarness, _ records: [JSONValue], label: String) async throws -> ImportSummary {
        let folder = try TestProcess.temporaryDirectory(label)
        try FileManager.default.createDirectory(atPath: folder + "/mis", withIntermediateDirectories: true)
        try """
            name = "mis"
            version = "1"
            protocol = 1
            description = "test"
            exec = "run.sh"
            accepts = ["*.ndjson"]
            """.write(toFile: folder + "/mis/plugin.toml", atomically: true, encoding: .utf8)
        try "#!/bin/sh\ncat \"$2\"\n".write(toFile: folder + "/mis/run.sh", atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: folder + "/mis/run.sh")
        let lines = [JSONValue.object(["type": .string("header"), "protocol": .number(1), "plugin": .string("mis"), "source_kind": .string("delta")])]
            + records + [.object(["type": .string("end"), "counts": .object(["enrolment": .number(Double(records.count))])])]
        try (lines.map(\.serialized).joined(separator: "\n") + "\n").write(toFile: folder + "/export.ndjson", atomically: true, encoding: .utf8)
        let pipeline = ImportPipeline(database: .external(harness.url), scratchRoot: folder + "/scratch")
        return try await pipeline.run(ImportRequest(
            sourceName: "mis", plugin: try PluginManifest.load(folder: folder + "/mis"), path: folder + "/export.ndjson",
            schools: [(north, "North School")], limits: PluginLimits(sandbox: PluginSandbox(mode: .none)), force: true))
    }

    func enrolmentRecord(status: String, exit: Double?) -> JSONValue {
        var fields: [String: JSONValue] = [
            "type": .string("enrolment"), "school_urn": .string(north), "provision_id": .string("reading-1"), "upn": .string(upn),
            "start_date": .string(Self.started), "status": .string(status),
            "entry": .object(["value": .number(82), "date": .string(SchoolDate(daysSince1970: SchoolDate.today().daysSince1970 - 31).iso)]),
        ]
        if let exit { fields["exit"] = .object(["value": .number(exit), "date": .string(SchoolDate.today().iso)]) }
        return .object(fields)
    }

    @Test func aSENCOsEditIsNeverSilentlyOverwrittenByALaterImport() async throws {
        let harness = try await ConsoleHarness.make("edit-precedence")
        try await harness.user("senco@north.example", .senco, schools: [north])
        try await harness.run { browser in
            try await browser.signIn("senco@north.example")
            let exit = try await browser.request(
                .post, "/api/v1/schools/\(north)/provisions/reading-1/pupils/\(upn)",
                json: .object(["exit_value": .number(95), "exit_date": .string(SchoolDate.today().iso)]))
            #expect(exit.status == .ok)
        }
        #expect(try await enrolment(harness) == ["status": "active", "exit": "95", "edited": "yes"])

        // The MIS still says active with no exit score: kept as the SENCO wrote it, with a warning.
        let stale = try await importing(harness, [enrolmentRecord(status: "active", exit: nil)], label: "edit-stale")
        #expect(stale.status == .succeeded)
        #expect(stale.merge.keptConsoleEdits == 1)
        #expect(try await enrolment(harness) == ["status": "active", "exit": "95", "edited": "yes"])
        let warnings = try await harness.db { db in
            try await db.query("SELECT severity, reason, ref FROM rejected_records WHERE import_run_id = $1", stale.runID).rows.map {
                "\(try $0.decode("severity", as: String.self)) \(try $0.decode("ref", as: String?.self) ?? "-"): \(try $0.decode("reason", as: String.self))"
            }
        }
        #expect(warnings.count == 1)
        #expect(warnings.first?.hasPrefix("warning reading-1: a SENCO edited this enrolment in the console on ") == true, "\(warnings)")

        // Once the MIS agrees, the row is the imports' again, and the next change applies.
        let agreeing = try await importing(harness, [enrolmentRecord(status: "active", exit: 95)], label: "edit-agree")
        #expect(agreeing.merge.keptConsoleEdits == 0)
        #expect(try await enrolment(harness) == ["status": "active", "exit": "95", "edited": "no"])
        let later = try await importing(harness, [enrolmentRecord(status: "completed", exit: 96)], label: "edit-later")
        #expect(later.status == .succeeded)
        #expect(try await enrolment(harness) == ["status": "completed", "exit": "96", "edited": "no"])
    }
}

extension JSONValue {
    /// The value of `key` in an object; nil otherwise.
    func field(_ key: String) -> JSONValue? {
        guard case .object(let fields) = self else { return nil }
        return fields[key]
    }
}
