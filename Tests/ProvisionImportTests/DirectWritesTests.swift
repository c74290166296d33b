import Foundation
import Postgres
@testable import ProvisionImport
import ProvisionTestSupport
import Testing

/// A first run writes new pupils and their results straight into their tables
/// (``DirectWrites``); what it stores must be what staging and merging the same records stores.
@Suite struct DirectWritesTests {
    /// Pupil 50 is on roll at the other school; pupil 51 left it and is on roll nowhere.
    static let otherSchoolsRun = [
        ProtocolFixture.header(kind: "delta"), ProtocolFixture.pupil(50, school: ProtocolFixture.otherSchool),
        ProtocolFixture.line([
            "type": "pupil", "school_urn": ProtocolFixture.otherSchool, "upn": ProtocolFixture.upn(51), "surname": "Surname51",
            "forename": "Forename51", "dob": "2016-09-10", "leaving_date": "2024-07-19",
        ]),
        ProtocolFixture.end(["pupil": 2]),
    ]

    /// A first run with every case the rules tell apart, each line commented.
    static let firstRun = [
        ProtocolFixture.header(),
        ProtocolFixture.assessment(1, value: 70, date: "2025-01-10"),  // before its pupil: staged
        ProtocolFixture.pupil(1, sen: "K"),  // new, with needs: direct
        ProtocolFixture.pupil(2, sen: "K"),  // direct, repeated below without needs
        ProtocolFixture.pupil(3),  // direct
        ProtocolFixture.assessment(1, value: 71),  // direct
        ProtocolFixture.assessment(2, value: 72),  // direct
        ProtocolFixture.assessment(3, value: 73),  // direct, repeated twice below
        ProtocolFixture.assessment(2, value: 60, date: "2010-01-01"),  // before birth: staged, rejected
        ProtocolFixture.assessment(99, value: 50),  // no such pupil: staged, rejected
        ProtocolFixture.assessment(3, value: 74),  // repeat of a direct result: staged
        ProtocolFixture.assessment(3, value: 75),  // and again: staged, this one wins
        ProtocolFixture.line([  // pupil 2 again, no needs listed: staged, wins, and drops the needs
            "type": "pupil", "school_urn": ProtocolFixture.school, "upn": ProtocolFixture.upn(2), "surname": "Renamed2",
            "forename": "Forename2", "dob": "2016-09-03",
        ]),
        ProtocolFixture.assessment(2, value: 76, date: "2026-01-15"),  // pupil repeated: staged
        ProtocolFixture.pupil(50),  // on roll at the other school: staged, rejected
        ProtocolFixture.assessment(50, value: 65),  // staged, rejected
        ProtocolFixture.pupil(51),  // on roll nowhere, stored: staged, taken over
        ProtocolFixture.assessment(51, value: 66),  // staged
        ProtocolFixture.pupil(4, sen: "E"),  // direct
        ProtocolFixture.assessment(4, value: 77),  // direct
        ProtocolFixture.line([  // every field a pupil has: direct
            "type": "pupil", "school_urn": ProtocolFixture.school, "upn": ProtocolFixture.upn(5), "surname": "Surname5",
            "forename": "Forename5", "dob": "2015-02-28", "gender": "F", "year_group": "5", "admission_date": "2019-09-04",
            "sen_provision": "K", "sen_start_date": "2021-01-11", "fsm": true, "pupil_premium": false, "eal": true,
            "looked_after": false, "needs": [["code": "SLCN", "rank": 1], ["code": "SEMH", "rank": 2]],
        ]),
        ProtocolFixture.assessment(5, value: 97.25),  // direct: decimals
        ProtocolFixture.line([  // direct: a small score, written 1e-05
            "type": "assessment", "school_urn": ProtocolFixture.school, "upn": ProtocolFixture.upn(5), "instrument": "Probe",
            "subject": "phonics", "measure": "raw", "value": 0.00001, "date": "2025-10-01",
        ]),
        ProtocolFixture.line([  // direct: below zero
            "type": "assessment", "school_urn": ProtocolFixture.school, "upn": ProtocolFixture.upn(5), "instrument": "Probe",
            "subject": "maths", "measure": "raw", "value": -12.5, "date": "2025-10-01",
        ]),
        ProtocolFixture.end(["pupil": 8, "assessment": 15]),
    ]

    /// Imports the other school's run, then `firstRun` with the given threshold, and returns
    /// the harness, the summary and everything stored.
    static func importBoth(_ label: String, threshold: Int?) async throws -> (ImportHarness, ImportSummary, [String]) {
        var h = try await ImportHarness.make(label)
        h.pipeline.directWriteThreshold = threshold
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        var other = h.request(plugin, source: try h.source(otherSchoolsRun, name: "other.ndjson"), schools: [ProtocolFixture.otherSchool])
        other.sourceName = "other"
        #expect(try await h.pipeline.run(other).status == .succeeded)
        let summary = try await h.pipeline.run(h.request(plugin, source: try h.source(firstRun), maxRejected: 0.5))
        return (h, summary, try await stored(h))
    }

    /// Every stored row, without ids or times: pupils, needs, results (by UPN) and rejections.
    static func stored(_ h: ImportHarness) async throws -> [String] {
        let queries = [
            """
            SELECT p.upn || ' ' || s.urn || ' ' || p.surname || ' ' || p.forename || ' ' || p.dob || ' ' || p.on_roll
                   || ' ' || p.sen_provision || ' ' || concat_ws(',', p.gender, p.year_group, p.admission_date, p.sen_start_date,
                                                                  p.fsm, p.pupil_premium, p.eal, p.looked_after, p.upn_warning)
                   || ' ' || coalesce(p.leaving_date::text, '-') || ' ' || coalesce(p.import_run_id::text, '-') AS row
              FROM pupils p JOIN schools s ON s.id = p.school_id ORDER BY p.upn
            """,
            "SELECT p.upn || ' ' || n.code || ' ' || n.rank AS row FROM pupil_needs n JOIN pupils p ON p.id = n.pupil_id ORDER BY 1",
            """
            SELECT p.upn || ' ' || s.urn || ' ' || a.instrument || ' ' || a.subject || ' ' || a.measure || ' ' || a.value || ' '
                   || a.assessed_on || ' ' || a.import_run_id AS row
              FROM assessments a JOIN pupils p ON p.id = a.pupil_id JOIN schools s ON s.id = a.school_id ORDER BY 1
            """,
            "SELECT import_run_id || ' ' || line || ' ' || record_type || ' ' || reason AS row FROM rejected_records ORDER BY import_run_id, line",
        ]
        var rows: [String] = []
        for sql in queries { rows += try await h.query(sql).rows.map { try $0.decode("row", as: String.self) } }
        return rows
    }

    @Test func aFirstRunStoresWhatStagingAndMergingStores() async throws {
        let (direct, directRun, directRows) = try await Self.importBoth("direct-writes", threshold: 0)
        defer { direct.cleanUp() }
        let (staged, stagedRun, stagedRows) = try await Self.importBoth("direct-writes-staged", threshold: nil)
        defer { staged.cleanUp() }
        #expect(directRun.status == .succeeded, "\(directRun.failure ?? "")")
        #expect(stagedRun.status == .succeeded, "\(stagedRun.failure ?? "")")
        // Pupils 1, 2, 3, 4 and 5 and the results of lines 6, 7, 8, 20, 22, 23 and 24.
        #expect(directRun.merge.writtenDirectly == 12)
        #expect(stagedRun.merge.writtenDirectly == 0)
        #expect(directRows == stagedRows)
        // Pupil 2's needs were written with their first line and removed for the last, so
        // the needs' counts differ; the rows do not.
        #expect(directRun.merge.inserted["pupils"] == stagedRun.merge.inserted["pupils"])
        #expect(directRun.merge.inserted["assessments"] == stagedRun.merge.inserted["assessments"])
        #expect(directRun.merge.inserted["assessments"] == 10)
        #expect(directRun.merge.duplicates == stagedRun.merge.duplicates)
        #expect(directRun.merge.duplicates == 3)
        #expect(directRun.rejected == stagedRun.rejected)
        #expect(directRun.rejected == 4)
        // What the rows say, beyond their being equal.
        #expect(directRows.contains { $0.hasPrefix(ProtocolFixture.upn(2) + " 139001 Renamed2 ") })
        #expect(!directRows.contains { $0.hasPrefix(ProtocolFixture.upn(2) + " SPLD") })
        #expect(directRows.contains { $0.hasPrefix(ProtocolFixture.upn(1) + " SPLD 1") })
        #expect(directRows.contains { $0.hasPrefix(ProtocolFixture.upn(3) + " 139001 Salford reading age_months 75 2025-09-15") })
        #expect(directRows.contains {
            $0.hasPrefix(ProtocolFixture.upn(5) + " 139001 Surname5 Forename5 2015-02-28 true K F,5,2019-09-04,2021-01-11,t,f,t,f -")
        })
        #expect(directRows.contains { $0.hasPrefix(ProtocolFixture.upn(5) + " SEMH 2") })
        #expect(directRows.contains { $0.hasPrefix(ProtocolFixture.upn(5) + " 139001 Salford reading age_months 97.25 2025-09-15") })
        #expect(directRows.contains { $0.hasPrefix(ProtocolFixture.upn(5) + " 139001 Probe phonics raw 0.00001 2025-10-01") })
        #expect(directRows.contains { $0.hasPrefix(ProtocolFixture.upn(5) + " 139001 Probe maths raw -12.5 2025-10-01") })
        #expect(directRows.contains { $0.hasPrefix(ProtocolFixture.upn(51) + " 139001 ") })

        // The same input again changes nothing either way.
        let plugin = try TestPlugin.make(in: direct.folder, body: #"cat "$2""#)
        let again = try await direct.pipeline.run(
            direct.request(plugin, source: try direct.source(Self.firstRun), maxRejected: 0.5, force: true))
        #expect(again.status == .succeeded)
        #expect(again.merge.changedRows == 0)
        #expect(again.merge.writtenDirectly == 0)
    }

    /// Rows written directly belong to the run's transaction: a run that fails after them
    /// leaves nothing behind.
    @Test func aFailedRunLeavesNoRowItWroteDirectly() async throws {
        var h = try await ImportHarness.make("direct-writes-failed")
        defer { h.cleanUp() }
        h.pipeline.directWriteThreshold = 0
        // Past one batch of direct rows, so some reached the tables before the plugin failed.
        let pupils = DirectWrites.batchRows
        var lines = [ProtocolFixture.header()]
        for n in 1...pupils { lines.append(ProtocolFixture.pupil(n)) }
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2"; exit 3"#)
        let summary = try await h.pipeline.run(h.request(plugin, source: try h.source(lines)))
        #expect(summary.status == .failed)
        #expect(summary.failure?.contains("exit") == true, "\(summary.failure ?? "")")
        #expect(try await h.query("SELECT count(*) FROM pupils").scalar(as: Int.self) == 0)
        #expect(try await h.query("SELECT count(*) FROM pupil_needs").scalar(as: Int.self) == 0)

        // The same records from a plugin that succeeds are all written directly.
        let good = try TestPlugin.make(in: h.folder + "/good", body: #"cat "$2""#)
        let run = try await h.pipeline.run(h.request(good, source: try h.source(lines + [ProtocolFixture.end(["pupil": pupils])])))
        #expect(run.status == .succeeded, "\(run.failure ?? "")")
        #expect(run.merge.writtenDirectly == pupils)
        let recorded = try await h.query("SELECT counts->>'written_directly' AS n FROM import_runs WHERE id = $1", run.runID)
            .scalar(as: String.self)
        #expect(recorded == String(pupils))
        #expect(try await h.query("SELECT count(*) FROM pupils").scalar(as: Int.self) == pupils)
    }

    /// A run stages at least a quarter as many pupils and results as the deployment has
    /// pupils stored before it lists their UPNs and writes directly.
    @Test func aRunStagesAQuarterOfTheStoredPupilsFirst() async throws {
        var h = try await ImportHarness.make("direct-writes-quarter")
        defer { h.cleanUp() }
        h.pipeline.directWriteThreshold = 0
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        let others = [ProtocolFixture.header(kind: "delta")]
            + (101...140).map { ProtocolFixture.pupil($0, school: ProtocolFixture.otherSchool) } + [ProtocolFixture.end(["pupil": 40])]
        var other = h.request(plugin, source: try h.source(others, name: "other.ndjson"), schools: [ProtocolFixture.otherSchool])
        other.sourceName = "other"
        #expect(try await h.pipeline.run(other).status == .succeeded)
        _ = try await h.query("ANALYZE pupils")
        // 40 stored: the first 10 pupils and results (pupils 1 to 5 and theirs) are staged.
        let summary = try await h.pipeline.run(h.request(plugin, source: try h.source(ProtocolFixture.run(pupils: 20))))
        #expect(summary.status == .succeeded, "\(summary.failure ?? "")")
        #expect(summary.merge.writtenDirectly == 30)
        #expect(summary.merge.inserted["pupils"] == 20)
        #expect(summary.merge.inserted["assessments"] == 20)
        #expect(try await h.query("SELECT count(*) FROM assessments a JOIN pupils p ON p.id = a.pupil_id").scalar(as: Int.self) == 20)
    }
}
