import Foundation
import Postgres
import ProvisionModel
import ProvisionTestSupport
import Testing

@testable import ProvisionImport

/// A line the source's last run sent, byte for byte, is taken without being read again
/// (``RememberedLines``), and what is stored afterwards is what reading it would have left.
@Suite("lines remembered from the last run")
struct RememberedLinesTests {
    func memoryFile(_ h: ImportHarness) -> String { h.folder + "/remembered-lines/test-source.lines" }

    /// Ten pupils (pupil 3 with needs listed, which is not remembered) and a result each.
    func export(value three: Double = 83) -> [String] {
        var lines = [ProtocolFixture.header()]
        for n in 1...10 {
            lines.append(ProtocolFixture.pupil(n, sen: n == 3 ? "K" : "N"))
            lines.append(ProtocolFixture.assessment(n, value: n == 3 ? three : Double(80 + n)))
        }
        lines.append(ProtocolFixture.end(["pupil": 10, "assessment": 10]))
        return lines
    }

    @Test func anUnchangedExportIsTakenFromTheLinesRememberedAndWritesNothing() async throws {
        let h = try await ImportHarness.make("remembered-unchanged")
        defer { h.cleanUp() }
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        let source = try h.source(export())
        let first = try await h.pipeline.run(h.request(plugin, source: source))
        #expect(first.status == .succeeded, "\(first.failure ?? "")")
        #expect(first.rememberedLines == 0)
        // Nineteen lines: every record but the pupil who lists needs.
        let size = try #require(try FileManager.default.attributesOfItem(atPath: memoryFile(h))[.size] as? Int)
        #expect(size == 64 + 19 * 24)
        let before = try await h.fingerprint()
        let again = try await h.pipeline.run(h.request(plugin, source: source, force: true))
        #expect(again.status == .succeeded, "\(again.failure ?? "")")
        #expect(again.rememberedLines == 19)
        #expect(again.merge.alreadyStored == 20)
        #expect(again.sent == ["pupil": 10, "assessment": 10])
        #expect(again.accepted == ["pupil": 10, "assessment": 10])
        #expect(try await h.fingerprint() == before)
        let counts = try await h.query("SELECT counts->>'remembered_lines' AS n FROM import_runs WHERE id = $1", again.runID)
        #expect(try counts.scalar(as: String.self) == "19")
    }

    /// A remembered line whose row was changed since (here by hand) is read again and
    /// writes the row back; a changed line is read and written.
    @Test func aRowChangedSinceAndALineChangedAreBothWritten() async throws {
        let h = try await ImportHarness.make("remembered-changed")
        defer { h.cleanUp() }
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        #expect(try await h.pipeline.run(h.request(plugin, source: try h.source(export(), name: "a.ndjson"))).status == .succeeded)
        let db = try await PostgresConnection.connect(h.url)
        try await db.execute(
            "UPDATE assessments SET value = 1 WHERE pupil_id = (SELECT id FROM pupils WHERE upn = $1)", ProtocolFixture.upn(5))
        try await db.execute("UPDATE pupils SET surname = 'Changed' WHERE upn = $1", ProtocolFixture.upn(6))
        await db.close()
        let summary = try await h.pipeline.run(h.request(plugin, source: try h.source(export(value: 99), name: "b.ndjson")))
        #expect(summary.status == .succeeded, "\(summary.failure ?? "")")
        // Pupil 3's result changed in the export; pupil 5's result and pupil 6 changed in
        // the database; pupil 3 lists needs. The other 16 lines are remembered.
        #expect(summary.rememberedLines == 16)
        #expect(summary.merge.updated["assessments"] == 2)
        #expect(summary.merge.updated["pupils"] == 1)
        let values = try await h.query(
            "SELECT p.upn, a.value::text AS value FROM assessments a JOIN pupils p ON p.id = a.pupil_id WHERE p.upn = ANY($1::text[])",
            [3, 5].map(ProtocolFixture.upn)
        ).rows.map { try $0.decode("upn", as: String.self) + "=" + $0.decode("value", as: String.self) }
        #expect(Set(values) == [ProtocolFixture.upn(3) + "=99", ProtocolFixture.upn(5) + "=85"])
        #expect(try await h.query("SELECT surname FROM pupils WHERE upn = $1", ProtocolFixture.upn(6)).scalar(as: String.self) == "Surname6")
        // What the run remembered is what it left: the next run takes every line but pupil 3's.
        let next = try await h.pipeline.run(h.request(plugin, source: try h.source(export(value: 99), name: "c.ndjson"), force: true))
        #expect(next.status == .succeeded, "\(next.failure ?? "")")
        #expect(next.rememberedLines == 19)
        #expect(next.merge.changedRows == 0)
    }

    /// Lines remembered for other bound schools are forgotten: a school no longer bound
    /// rejects its records, remembered or not.
    @Test func linesAreForgottenWhenTheBoundSchoolsChange() async throws {
        let h = try await ImportHarness.make("remembered-schools")
        defer { h.cleanUp() }
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        let source = try h.source(export())
        #expect(try await h.pipeline.run(h.request(plugin, source: source)).status == .succeeded)
        let both = try await h.pipeline.run(
            h.request(plugin, source: source, schools: [ProtocolFixture.school, ProtocolFixture.otherSchool], force: true))
        #expect(both.status == .succeeded, "\(both.failure ?? "")")
        #expect(both.rememberedLines == 0)
        #expect(both.merge.alreadyStored == 20)
        let elsewhere = try await h.pipeline.run(h.request(plugin, source: source, schools: [ProtocolFixture.otherSchool], force: true))
        #expect(elsewhere.status == .failed)
        #expect(elsewhere.rememberedLines == 0)
        #expect(elsewhere.rejected == 20)
    }

    /// A damaged file is ignored (every line is read) and written afresh.
    @Test func aDamagedFileIsIgnoredAndWrittenAfresh() async throws {
        let h = try await ImportHarness.make("remembered-damaged")
        defer { h.cleanUp() }
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        let source = try h.source(export())
        #expect(try await h.pipeline.run(h.request(plugin, source: source)).status == .succeeded)
        let file = try #require(FileHandle(forUpdatingAtPath: memoryFile(h)))
        try file.truncate(atOffset: 64 + 19 * 24 - 10)
        try file.close()
        let damaged = try await h.pipeline.run(h.request(plugin, source: source, force: true))
        #expect(damaged.status == .succeeded, "\(damaged.failure ?? "")")
        #expect(damaged.rememberedLines == 0)
        #expect(damaged.merge.alreadyStored == 20)
        let size = try #require(try FileManager.default.attributesOfItem(atPath: memoryFile(h))[.size] as? Int)
        #expect(size == 64 + 19 * 24)
        #expect(try await h.pipeline.run(h.request(plugin, source: source, force: true)).rememberedLines == 19)
    }

    /// A record kept with a warning is not remembered: every run warns of it again.
    @Test func aRecordKeptWithAWarningIsWarnedOfEveryRun() async throws {
        let h = try await ImportHarness.make("remembered-warning")
        defer { h.cleanUp() }
        let good = ProtocolFixture.upn(7)
        let wrongLetter = (good.first == "A" ? "B" : "A") + good.dropFirst()
        let lines = [
            ProtocolFixture.header(), ProtocolFixture.pupil(7, upn: wrongLetter), ProtocolFixture.pupil(8),
            ProtocolFixture.end(["pupil": 2]),
        ]
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        let source = try h.source(lines)
        for run in 1...2 {
            let summary = try await h.pipeline.run(h.request(plugin, source: source, force: true))
            #expect(summary.status == .succeeded)
            #expect(summary.warnings == 1, "run \(run)")
            #expect(summary.rememberedLines == run - 1, "run \(run)")
            let warned = try await h.query(
                "SELECT count(*) FROM rejected_records WHERE import_run_id = $1 AND severity = 'warning'", summary.runID)
            #expect(try warned.scalar(as: Int.self) == 1, "run \(run)")
        }
    }

    /// A pupil leaving after today is not remembered (on a later day the same line marks
    /// them as left); one who has left already is.
    @Test func aPupilStillToLeaveIsReadEveryRun() async throws {
        let h = try await ImportHarness.make("remembered-leaving")
        defer { h.cleanUp() }
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        let today = SchoolDate.today()
        func leaving(_ n: Int, _ date: SchoolDate) throws -> String {
            let pupil = try #require(JSONSerialization.jsonObject(with: Data(ProtocolFixture.pupil(n).utf8)) as? [String: Any])
            return ProtocolFixture.line(pupil.merging(["leaving_date": date.iso]) { $1 })
        }
        let lines = [
            ProtocolFixture.header(), try leaving(1, SchoolDate(daysSince1970: today.daysSince1970 + 30)),
            try leaving(2, SchoolDate(daysSince1970: today.daysSince1970 - 30)), ProtocolFixture.pupil(3),
            ProtocolFixture.end(["pupil": 3]),
        ]
        let source = try h.source(lines)
        #expect(try await h.pipeline.run(h.request(plugin, source: source)).status == .succeeded)
        let again = try await h.pipeline.run(h.request(plugin, source: source, force: true))
        #expect(again.status == .succeeded, "\(again.failure ?? "")")
        #expect(again.rememberedLines == 2)
        #expect(again.merge.alreadyStored == 3)
    }

    /// A remembered line where the protocol takes no record is read, and breaks it.
    @Test func aRememberedLineBeforeTheHeaderStillBreaksTheProtocol() async throws {
        let h = try await ImportHarness.make("remembered-protocol")
        defer { h.cleanUp() }
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        let lines = export()
        #expect(try await h.pipeline.run(h.request(plugin, source: try h.source(lines, name: "a.ndjson"))).status == .succeeded)
        let before = try await h.fingerprint()
        let early = [lines[2]] + [lines[0], lines[1]] + lines[3...]
        let summary = try await h.pipeline.run(h.request(plugin, source: try h.source(Array(early), name: "b.ndjson")))
        #expect(summary.status == .failed)
        #expect(summary.failure?.contains("line 1: the first line must be a header record") == true, "\(summary.failure ?? "")")
        let late = lines + [lines[2]]
        let after = try await h.pipeline.run(h.request(plugin, source: try h.source(late, name: "c.ndjson")))
        #expect(after.status == .failed)
        #expect(after.failure?.contains("output continues after the end record") == true, "\(after.failure ?? "")")
        #expect(try await h.fingerprint() == before)
    }

    /// The search finds every remembered line and no other, and the sort orders any lines,
    /// a line repeated many times among them.
    @Test func everyRememberedLineIsFoundAndNoOther() {
        var generator = SystemRandomNumberGenerator()
        var entries = (0..<20_000).map { n in
            RememberedLines.Entry(line: n % 4 == 0 ? 42 : generator.next(), key: n << 1, content: n << 1)
        }
        entries.withUnsafeMutableBufferPointer { RememberedLines.sortByLine($0) }
        #expect(zip(entries, entries.dropFirst()).allSatisfy { $0.line <= $1.line })
        #expect(Set(entries.map(\.key)).count == 20_000)
        var unique: [RememberedLines.Entry] = []
        for entry in entries where unique.last?.line != entry.line { unique.append(entry) }
        let lines = RememberedLines(hashing: .fresh(), stamp: 1, entries: unique)
        for (index, entry) in unique.enumerated() { #expect(lines.find(entry.line) == index) }
        let known = Set(unique.map(\.line))
        let others = (0..<20_000).map { _ in generator.next() as UInt64 }.filter { !known.contains($0) }
        #expect(others.allSatisfy { lines.find($0) == nil })
        #expect(lines.find(0) == nil && lines.find(.max) == nil)
    }
}
