import Foundation
import Postgres
import ProvisionTestSupport
import Testing

@testable import ProvisionImport

/// Records already stored exactly as they say are not staged (``StoredRecords``); what is
/// stored afterwards must be what staging everything would have left.
@Suite("records already stored are not staged")
struct StoredRecordsTests {
    @Test func aForcedRerunOfAnUnchangedExportStagesNothingAndWritesNothing() async throws {
        let h = try await ImportHarness.make("stored-unchanged")
        defer { h.cleanUp() }
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        let source = try h.source(ProtocolFixture.run(pupils: 20))
        let first = try await h.pipeline.run(h.request(plugin, source: source))
        #expect(first.status == .succeeded, "\(first.failure ?? "")")
        #expect(first.merge.alreadyStored == 0)
        let before = try await h.fingerprint()
        let again = try await h.pipeline.run(h.request(plugin, source: source, force: true))
        #expect(again.status == .succeeded, "\(again.failure ?? "")")
        #expect(again.merge.alreadyStored == 40)
        #expect(again.merge.changedRows == 0)
        #expect(again.merge.markedLeft == 0)
        #expect(try await h.fingerprint() == before)
        let counts = try await h.query("SELECT counts->>'already_stored' AS n FROM import_runs WHERE id = $1", again.runID)
        #expect(try counts.scalar(as: String.self) == "40")
    }

    /// A row's id as COPY writes it is read as digits alone, up to the largest `bigint`; a
    /// pupil whose id cannot be read is left out of the list (their record is staged).
    @Test func rowIdsAreReadAsDigitsUpToTheLargestBigint() {
        func id(_ text: String) -> Int64? { Array(text.utf8).withUnsafeBufferPointer(StoredRecords.id) }
        #expect(id("1") == 1)
        #expect(id("250000") == 250_000)
        #expect(id("9223372036854775807") == .max)
        #expect(id("9223372036854775808") == nil)
        #expect(id("") == nil)
        #expect(id("-1") == nil)
        #expect(id("12a") == nil)
    }

    /// Each case is a second export of pupil 1's result of 2025-09-15 (stored as 80), and
    /// what must be stored after it.
    @Test(arguments: [
        // Stored as it is, then changed: the later line wins.
        ([80.0, 85.0], "85", 1),
        // Changed, then back to what is stored: the later line still wins.
        ([85.0, 80.0], "80", 1),
        // Stored as it is, twice.
        ([80.0, 80.0], "80", 1),
        ([80.0, 85.0, 80.0], "80", 2),
    ])
    func theLastLineOfAKeyWinsWhetherOrNotItIsStaged(values: [Double], stored: String, duplicates: Int) async throws {
        let h = try await ImportHarness.make("stored-last-wins")
        defer { h.cleanUp() }
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        let first = [
            ProtocolFixture.header(), ProtocolFixture.pupil(1), ProtocolFixture.assessment(1, value: 80),
            ProtocolFixture.end(["pupil": 1, "assessment": 1]),
        ]
        #expect(try await h.pipeline.run(h.request(plugin, source: try h.source(first, name: "a.ndjson"))).status == .succeeded)
        let second = [ProtocolFixture.header(), ProtocolFixture.pupil(1)] + values.map { ProtocolFixture.assessment(1, value: $0) }
            + [ProtocolFixture.end(["pupil": 1, "assessment": values.count])]
        let summary = try await h.pipeline.run(h.request(plugin, source: try h.source(second, name: "b.ndjson")))
        #expect(summary.status == .succeeded, "\(summary.failure ?? "")")
        #expect(summary.merge.duplicates == duplicates)
        #expect(try await h.query("SELECT value::text FROM assessments").scalar(as: String.self) == stored)
    }

    /// A pupil's row changed since it was imported (marked as left by another snapshot, moved
    /// to another bound school) is written again by a record that names it as before.
    @Test func aPupilChangedSinceItsImportIsWrittenAgain() async throws {
        let h = try await ImportHarness.make("stored-pupil-changed")
        defer { h.cleanUp() }
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        let all = try h.source(ProtocolFixture.run(pupils: 10), name: "all.ndjson")
        #expect(try await h.pipeline.run(h.request(plugin, source: all)).status == .succeeded)
        let nine = [ProtocolFixture.header()] + (1...9).map { ProtocolFixture.pupil($0) } + [ProtocolFixture.end(["pupil": 9])]
        let left = try await h.pipeline.run(h.request(plugin, source: try h.source(nine, name: "nine.ndjson")))
        #expect(left.merge.markedLeft == 1)
        #expect(left.merge.alreadyStored == 9)
        let back = try await h.pipeline.run(h.request(plugin, source: all, force: true))
        #expect(back.status == .succeeded, "\(back.failure ?? "")")
        #expect(back.merge.updated["pupils"] == 1)
        #expect(back.merge.alreadyStored == 19)
        #expect(try await h.query("SELECT count(*) FROM pupils WHERE on_roll AND marked_left_at IS NULL").scalar(as: Int.self) == 10)

        // Moved to the other bound school by a run that names it there; the first export
        // moves it back.
        let schools = [ProtocolFixture.school, ProtocolFixture.otherSchool]
        let moved = [
            ProtocolFixture.header(kind: "delta"), ProtocolFixture.pupil(3, school: ProtocolFixture.otherSchool),
            ProtocolFixture.end(["pupil": 1]),
        ]
        let move = try await h.pipeline.run(h.request(plugin, source: try h.source(moved, name: "moved.ndjson"), schools: schools))
        #expect(move.status == .succeeded, "\(move.failure ?? "")")
        let returned = try await h.pipeline.run(h.request(plugin, source: all, schools: schools, force: true))
        #expect(returned.status == .succeeded, "\(returned.failure ?? "")")
        let school = try await h.query(
            "SELECT s.urn FROM pupils p JOIN schools s ON s.id = p.school_id WHERE p.upn = $1", ProtocolFixture.upn(3))
        #expect(try school.scalar(as: String.self) == ProtocolFixture.school)

        // A leaving date that has passed since the import: the same record now takes the
        // pupil off roll (set here by hand, as the passing of the date would).
        var leaver = try JSONSerialization.jsonObject(with: Data(ProtocolFixture.pupil(4).utf8)) as? [String: Any] ?? [:]
        leaver["leaving_date"] = "2025-07-18"
        let leaving = [ProtocolFixture.header(kind: "delta"), ProtocolFixture.line(leaver), ProtocolFixture.end(["pupil": 1])]
        let leavingSource = try h.source(leaving, name: "leaving.ndjson")
        #expect(try await h.pipeline.run(h.request(plugin, source: leavingSource)).status == .succeeded)
        _ = try await h.query("UPDATE pupils SET on_roll = true WHERE upn = $1", ProtocolFixture.upn(4))
        let passed = try await h.pipeline.run(h.request(plugin, source: leavingSource, force: true))
        #expect(passed.merge.alreadyStored == 0)
        #expect(try await h.query("SELECT on_roll FROM pupils WHERE upn = $1", ProtocolFixture.upn(4)).scalar(as: Bool.self) == false)
        #expect(try await h.pipeline.run(h.request(plugin, source: leavingSource, force: true)).merge.alreadyStored == 1)
    }

    /// Needs are compared only when a record lists them, as the merge applies them: for a
    /// school holding most of the pupils (its pupils' needs aggregated at once) and for a
    /// small school of a larger deployment (looked up pupil by pupil).
    @Test(arguments: [false, true])
    func needsListedDifferentlyAreWrittenAndNeedsNotListedAreLeftAlone(smallSchool: Bool) async throws {
        let h = try await ImportHarness.make("stored-needs")
        defer { h.cleanUp() }
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        let school = smallSchool ? ProtocolFixture.otherSchool : ProtocolFixture.school
        if smallSchool {
            // 40 pupils with a need each at a school this source is not bound to.
            let others = [ProtocolFixture.header()] + (1...40).map { ProtocolFixture.pupil($0, sen: "K") }
                + [ProtocolFixture.end(["pupil": 40])]
            var big = h.request(plugin, source: try h.source(others, name: "big.ndjson"))
            big.sourceName = "big-school"
            #expect(try await h.pipeline.run(big).status == .succeeded)
        }
        var pupil: [String: Any] = [
            "type": "pupil", "school_urn": school, "upn": ProtocolFixture.upn(41), "surname": "Surname",
            "forename": "Forename", "dob": "2016-09-01", "needs": [["code": "SLCN", "rank": 1], ["code": "ASD", "rank": 2]],
        ]
        func run(_ record: [String: Any]) async throws -> Int {
            let lines = [ProtocolFixture.header(), ProtocolFixture.line(record), ProtocolFixture.end(["pupil": 1])]
            let summary = try await h.pipeline.run(h.request(plugin, source: try h.source(lines), schools: [school], force: true))
            #expect(summary.status == .succeeded, "\(summary.failure ?? "")")
            return summary.merge.alreadyStored
        }
        func needs() async throws -> [String] {
            try await h.query(
                "SELECT code || rank AS need FROM pupil_needs WHERE pupil_id = (SELECT id FROM pupils WHERE upn = $1) ORDER BY rank",
                ProtocolFixture.upn(41)
            ).rows.map { try $0.decode("need", as: String.self) }
        }
        #expect(try await run(pupil) == 0)
        // Statistics say the school holds 1 of 41 pupils, or all of 1.
        _ = try await h.query("ANALYZE pupils")
        // The same needs listed in another order are the same needs.
        pupil["needs"] = [["code": "ASD", "rank": 2], ["code": "SLCN", "rank": 1]]
        #expect(try await run(pupil) == 1)
        pupil["needs"] = [["code": "SLCN", "rank": 2], ["code": "ASD", "rank": 1]]
        #expect(try await run(pupil) == 0)
        #expect(try await needs() == ["ASD1", "SLCN2"])
        pupil["needs"] = nil
        #expect(try await run(pupil) == 1)
        #expect(try await needs() == ["ASD1", "SLCN2"])
        pupil["needs"] = [Any]()
        #expect(try await run(pupil) == 0)
        #expect(try await needs() == [])
        #expect(try await run(pupil) == 1)
    }

    /// Stored rows are read only of the kinds a source's recent runs carried: nothing for a
    /// first run, results alone for a marksheet.
    @Test func aSourceReadsOnlyTheKindsOfRowsItsRecentRunsCarried() async throws {
        let h = try await ImportHarness.make("stored-kinds")
        defer { h.cleanUp() }
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        #expect(try await h.pipeline.run(h.request(plugin, source: try h.source(ProtocolFixture.run(pupils: 4), name: "ctf.ndjson"))).status == .succeeded)
        let marks = [ProtocolFixture.header(kind: "delta")] + (1...4).map { ProtocolFixture.assessment($0, value: Double(80 + $0)) }
            + [ProtocolFixture.end(["assessment": 4])]
        var request = h.request(plugin, source: try h.source(marks, name: "marks.ndjson"), force: true)
        request.sourceName = "marksheet"
        // Its first run: nothing read, though the rows are stored as it says.
        let first = try await h.pipeline.run(request)
        #expect(first.status == .succeeded, "\(first.failure ?? "")")
        #expect(first.merge.alreadyStored == 0)
        #expect(first.merge.changedRows == 0)
        let second = try await h.pipeline.run(request)
        #expect(second.merge.alreadyStored == 4)

        let db = try await PostgresConnection.connect(h.url)
        let marksheet = try await StoredRecords.kinds(carriedBy: "marksheet", db)
        let ctf = try await StoredRecords.kinds(carriedBy: "test-source", db)
        let unknown = try await StoredRecords.kinds(carriedBy: "never-run", db)
        await db.close()
        #expect(marksheet == [.results])
        #expect(ctf == [.pupils, .results])
        #expect(unknown == [])
    }

    /// A school holding a small part of the deployment has its results read pupil by pupil,
    /// through the index; the rows read are the same.
    @Test func aSmallSchoolOfALargeDeploymentIsReadPupilByPupil() async throws {
        let h = try await ImportHarness.make("stored-small-school")
        defer { h.cleanUp() }
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        #expect(try await h.pipeline.run(h.request(plugin, source: try h.source(ProtocolFixture.run(pupils: 40), name: "big.ndjson"))).status == .succeeded)
        let other = ProtocolFixture.otherSchool
        let small = [ProtocolFixture.header()] + (41...44).flatMap { n in
            [
                ProtocolFixture.pupil(n, school: other),
                ProtocolFixture.line([
                    "type": "assessment", "school_urn": other, "upn": ProtocolFixture.upn(n), "instrument": "Salford",
                    "subject": "reading", "measure": "age_months", "value": 90, "date": "2025-09-15",
                ]),
            ]
        } + [ProtocolFixture.end(["pupil": 4, "assessment": 4])]
        var request = h.request(plugin, source: try h.source(small, name: "small.ndjson"), schools: [other], force: true)
        request.sourceName = "small-school"
        #expect(try await h.pipeline.run(request).status == .succeeded)
        // Statistics say the school holds 4 of 44 pupils.
        _ = try await h.query("ANALYZE pupils")
        let again = try await h.pipeline.run(request)
        #expect(again.status == .succeeded, "\(again.failure ?? "")")
        #expect(again.merge.alreadyStored == 8)
        #expect(again.merge.changedRows == 0)
    }

    /// A list stops at its limit: results past it are not listed; pupils are listed all or
    /// none (the leaver rule needs every stored pupil), so past it only results are.
    @Test func aListStopsAtItsLimitAndListsPupilsAllOrNone() async throws {
        let h = try await ImportHarness.make("stored-limit")
        defer { h.cleanUp() }
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        #expect(try await h.pipeline.run(h.request(plugin, source: try h.source(ProtocolFixture.run(pupils: 5)))).status == .succeeded)
        let db = try await PostgresConnection.connect(h.url)
        let helper = try await PostgresConnection.connect(h.url)
        // Five pupils (three entries each) and their five results (one each).
        func listed(limit: Int) async throws -> (rows: Int, pupils: Bool) {
            try await db.begin()
            let today = try await db.query("SELECT current_date::text AS today").scalar(as: String.self)
            let stored = try await StoredRecords.load(
                db, alongside: helper, schools: [ProtocolFixture.school], limit: limit, today: today, hashing: .fresh())
            await db.rollback()
            return (stored.rowCount, stored.listsPupils)
        }
        let all = try await listed(limit: 20)
        let cut = try await listed(limit: 17)
        let pupilsOnly = try await listed(limit: 15)
        let resultsOnly = try await listed(limit: 14)
        let fewResults = try await listed(limit: 3)
        await db.close()
        await helper.close()
        #expect(all.rows == 10 && all.pupils)
        #expect(cut.rows == 7 && cut.pupils)
        #expect(pupilsOnly.rows == 5 && pupilsOnly.pupils)
        #expect(resultsOnly.rows == 5 && !resultsOnly.pupils)
        #expect(fewResults.rows == 3 && !fewResults.pupils)
    }

    /// With the list cut short, the records it does not know are staged and merged: an
    /// unchanged run still writes nothing, and a changed one writes every change. (The runs
    /// do not take the results as vouched for, which would spare listing them.)
    @Test func recordsPastTheListsLimitAreMergedAsBefore() async throws {
        let h = try await ImportHarness.make("stored-limit-run")
        defer { h.cleanUp() }
        var pipeline = h.pipeline
        pipeline.storedEntryLimit = 65
        pipeline.takesVouchedResults = false
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        let source = try h.source(ProtocolFixture.run(pupils: 20))
        #expect(try await pipeline.run(h.request(plugin, source: source)).status == .succeeded)
        let before = try await h.fingerprint()
        let again = try await pipeline.run(h.request(plugin, source: source, force: true))
        #expect(again.status == .succeeded, "\(again.failure ?? "")")
        // 20 pupils and 5 of their results listed and skipped; 15 results staged, unchanged.
        #expect(again.merge.alreadyStored == 25)
        #expect(again.merge.changedRows == 0)
        #expect(try await h.fingerprint() == before)

        let changed = [ProtocolFixture.header()] + (1...20).flatMap { n in
            [ProtocolFixture.pupil(n), ProtocolFixture.assessment(n, value: Double(100 + n))]
        } + [ProtocolFixture.end(["pupil": 20, "assessment": 20])]
        let third = try await pipeline.run(h.request(plugin, source: try h.source(changed, name: "changed.ndjson")))
        #expect(third.status == .succeeded, "\(third.failure ?? "")")
        #expect(third.merge.updated["assessments"] == 20)
        #expect(third.merge.alreadyStored == 20)
        let values = try await h.query("SELECT string_agg(value::text, ',' ORDER BY value) AS v FROM assessments").scalar(as: String.self)
        #expect(values == (101...120).map(String.init).joined(separator: ","))

        // Too many pupils for the list: 10 results are listed, every pupil is staged, and the
        // snapshot marks none of them as left.
        pipeline.storedEntryLimit = 10
        let afterChange = try await h.fingerprint()
        let fourth = try await pipeline.run(h.request(plugin, source: try h.source(changed, name: "changed.ndjson"), force: true))
        #expect(fourth.status == .succeeded, "\(fourth.failure ?? "")")
        #expect(fourth.merge.alreadyStored == 10)
        #expect(fourth.merge.changedRows == 0)
        #expect(fourth.merge.markedLeft == 0)
        #expect(try await h.fingerprint() == afterChange)

        // Either way a pupil the snapshot leaves out is marked as left: pupil 20 with the
        // pupils unlisted, then pupil 19 with them listed and the results cut short.
        for (limit, kept) in [(10, 19), (65, 18)] {
            pipeline.storedEntryLimit = limit
            let fewer = [ProtocolFixture.header()] + (1...kept).flatMap { n in
                [ProtocolFixture.pupil(n), ProtocolFixture.assessment(n, value: Double(100 + n))]
            } + [ProtocolFixture.end(["pupil": kept, "assessment": kept])]
            let run = try await pipeline.run(h.request(plugin, source: try h.source(fewer, name: "fewer-\(kept).ndjson")))
            #expect(run.status == .succeeded, "\(run.failure ?? "")")
            #expect(run.merge.markedLeft == 1)
            let left = try await h.query("SELECT string_agg(upn, ',') AS v FROM pupils WHERE NOT on_roll").scalar(as: String.self)
            #expect(Set(left.split(separator: ",").map(String.init)) == Set((kept + 1...20).map(ProtocolFixture.upn)))
        }
    }
}
