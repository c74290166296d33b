import Foundation
import Postgres
import ProvisionTestSupport
import Testing

@testable import ProvisionImport

/// A run whose staged pupils or results repeat no key is merged without sorting them by key
/// (``StagedKeys``); one that repeats a key still keeps each key's last line.
@Suite("repeated keys in one run")
struct StagedKeysTests {
    /// A marksheet lists results by test round; they are written pupil by pupil, so each
    /// pupil's results lie together where the evaluation reads them.
    @Test func resultsListedByRoundAreWrittenPupilByPupil() async throws {
        let h = try await ImportHarness.make("staged-order")
        defer { h.cleanUp() }
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        let rounds = ["2025-09-15", "2026-01-15", "2026-04-15"]
        let lines = [ProtocolFixture.header()] + (1...4).map { ProtocolFixture.pupil($0) }
            + rounds.flatMap { date in (1...4).map { ProtocolFixture.assessment($0, value: 80, date: date) } }
            + [ProtocolFixture.end(["pupil": 4, "assessment": 12])]
        let summary = try await h.pipeline.run(h.request(plugin, source: try h.source(lines)))
        #expect(summary.status == .succeeded, "\(summary.failure ?? "")")
        let written = try await h.query(
            "SELECT p.upn, a.assessed_on::text AS day FROM results a JOIN pupils p ON p.id = a.pupil_id ORDER BY a.ctid"
        ).rows.map { "\(try $0.decode("upn", as: String.self)) \(try $0.decode("day", as: String.self))" }
        #expect(written == (1...4).flatMap { n in rounds.map { "\(ProtocolFixture.upn(n)) \($0)" } })
    }

    @Test func aRepeatIsNoticedPerTypeAndEveryTypeIsSortedPastTheLimit() {
        var keys = StagedKeys(limit: 3)
        keys.note("pupil", key: 1)
        keys.note("assessment", key: 2)
        #expect(keys.mayRepeat.isEmpty)
        keys.note("assessment", key: 2)
        #expect(keys.mayRepeat == ["assessment"])
        keys.note("pupil", key: 3)
        #expect(keys.mayRepeat == ["assessment"])
        // Three keys kept: from now on nothing can be told, so each type noted is sorted.
        keys.note("pupil", key: 4)
        #expect(keys.mayRepeat == ["assessment", "pupil"])
    }

    /// A first run: pupil 1 and one of pupil 2's results come twice, with different values;
    /// the later lines are stored, and a run with no repeat stores every record.
    @Test func theLastLineOfARepeatedPupilOrResultWinsInAFirstRun() async throws {
        let h = try await ImportHarness.make("staged-keys")
        defer { h.cleanUp() }
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        let lines = [
            ProtocolFixture.header(), ProtocolFixture.pupil(1), ProtocolFixture.pupil(2),
            ProtocolFixture.assessment(2, value: 70), ProtocolFixture.assessment(2, value: 75, date: "2026-01-15"),
            ProtocolFixture.pupil(1, sen: "K"), ProtocolFixture.assessment(2, value: 71),
            ProtocolFixture.end(["pupil": 3, "assessment": 3]),
        ]
        let summary = try await h.pipeline.run(h.request(plugin, source: try h.source(lines)))
        #expect(summary.status == .succeeded, "\(summary.failure ?? "")")
        #expect(summary.merge.duplicates == 2)
        #expect(summary.merge.inserted["pupils"] == 2)
        #expect(summary.merge.inserted["assessments"] == 2)
        let pupils = try await h.query("SELECT upn || ' ' || sen_provision AS row FROM pupils ORDER BY surname").rows
            .map { try $0.decode("row", as: String.self) }
        #expect(pupils == ["\(ProtocolFixture.upn(1)) K", "\(ProtocolFixture.upn(2)) N"])
        let results = try await h.query("SELECT value::text || ' ' || assessed_on::text AS row FROM assessments ORDER BY assessed_on").rows
            .map { try $0.decode("row", as: String.self) }
        #expect(results == ["71 2025-09-15", "75 2026-01-15"])

        // Another source's first run (a delta: pupils 1 and 2 stay on roll).
        let other = [ProtocolFixture.header(kind: "delta")]
            + (3...5).flatMap { [ProtocolFixture.pupil($0), ProtocolFixture.assessment($0, value: 60)] }
            + [ProtocolFixture.end(["pupil": 3, "assessment": 3])]
        var request = h.request(plugin, source: try h.source(other, name: "other.ndjson"))
        request.sourceName = "other"
        let distinct = try await h.pipeline.run(request)
        #expect(distinct.status == .succeeded, "\(distinct.failure ?? "")")
        #expect(distinct.merge.duplicates == 0)
        #expect(distinct.merge.inserted["pupils"] == 3)
        #expect(distinct.merge.inserted["assessments"] == 3)
    }
}
