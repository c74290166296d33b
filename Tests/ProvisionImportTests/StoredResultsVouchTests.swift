import Foundation
import Postgres
import ProvisionTestSupport
import Testing

@testable import ProvisionImport

/// A run that left every remembered result stored as its line says vouches for them, and the
/// next run takes them as stored without listing them (``StoredResultsVouch``), unless
/// anything changed the schools' data since. What is stored afterwards must be what listing
/// the results would have left.
@Suite("stored results vouched for by the last run")
struct StoredResultsVouchTests {
    /// Pupil 1 and their result of 2025-09-15, one line per value.
    func export(_ values: [Double], unknownPupilResult: Bool = false) -> [String] {
        var lines = [ProtocolFixture.header(), ProtocolFixture.pupil(1)] + values.map { ProtocolFixture.assessment(1, value: $0) }
        if unknownPupilResult { lines.append(ProtocolFixture.assessment(9, value: 90)) }
        lines.append(ProtocolFixture.end(["pupil": 1, "assessment": values.count + (unknownPupilResult ? 1 : 0)]))
        return lines
    }

    func storedValue(_ h: ImportHarness) async throws -> String {
        try await h.query("SELECT string_agg(value::text, ',') FROM assessments").scalar(as: String.self)
    }

    @Test func anUnchangedRerunTakesTheVouchedResultsAsStoredAndWritesNothing() async throws {
        let h = try await ImportHarness.make("vouch-unchanged")
        defer { h.cleanUp() }
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        let source = try h.source(ProtocolFixture.run(pupils: 20))
        let first = try await h.pipeline.run(h.request(plugin, source: source))
        #expect(first.status == .succeeded, "\(first.failure ?? "")")
        #expect(first.vouchesForResults)
        let before = try await h.fingerprint()
        let again = try await h.pipeline.run(h.request(plugin, source: source, force: true))
        #expect(again.status == .succeeded, "\(again.failure ?? "")")
        #expect(again.resultsVouched)
        #expect(again.vouchesForResults)
        #expect(again.merge.alreadyStored == 40)
        #expect(again.merge.changedRows == 0)
        #expect(again.merge.markedLeft == 0)
        #expect(try await h.fingerprint() == before)
        // Without the record of the vouch, the results are listed, and the run vouches again.
        _ = try await h.query("DELETE FROM source_stored_results")
        let listed = try await h.pipeline.run(h.request(plugin, source: source, force: true))
        #expect(!listed.resultsVouched)
        #expect(listed.vouchesForResults)
        #expect(listed.merge.alreadyStored == 40)
        #expect(try await h.pipeline.run(h.request(plugin, source: source, force: true)).resultsVouched)
    }

    /// A result changed, removed or emptied with its table since the last run (here by hand)
    /// raises the school's data version: the results are listed and it is written back.
    @Test(arguments: [
        "UPDATE assessments SET value = 1", "DELETE FROM assessments", "TRUNCATE results",
    ])
    func aResultChangedSinceTheLastRunIsWrittenBack(change: String) async throws {
        let h = try await ImportHarness.make("vouch-changed")
        defer { h.cleanUp() }
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        let source = try h.source(export([80]))
        #expect(try await h.pipeline.run(h.request(plugin, source: source)).vouchesForResults)
        _ = try await h.query(change)
        let again = try await h.pipeline.run(h.request(plugin, source: source, force: true))
        #expect(again.status == .succeeded, "\(again.failure ?? "")")
        #expect(!again.resultsVouched)
        #expect(try await storedValue(h) == "80")
        #expect(try await h.pipeline.run(h.request(plugin, source: source, force: true)).resultsVouched)
    }

    /// A run in which a key came twice does not vouch: its earlier line is not stored as it
    /// says. The case where the second line is new and the first was taken as vouched for
    /// too.
    @Test(arguments: [false, true])
    func aRunRepeatingAKeyDoesNotVouch(firstVouched: Bool) async throws {
        let h = try await ImportHarness.make("vouch-repeat")
        defer { h.cleanUp() }
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        if firstVouched {
            #expect(try await h.pipeline.run(h.request(plugin, source: try h.source(export([80]), name: "a.ndjson"))).vouchesForResults)
        }
        let twice = try await h.pipeline.run(h.request(plugin, source: try h.source(export([80, 85]), name: "b.ndjson"), force: true))
        #expect(twice.status == .succeeded, "\(twice.failure ?? "")")
        #expect(twice.resultsVouched == firstVouched)
        #expect(twice.merge.duplicates == 1)
        #expect(!twice.vouchesForResults)
        #expect(try await storedValue(h) == "85")
        // The first line alone: it is stored as it says now.
        let once = try await h.pipeline.run(h.request(plugin, source: try h.source(export([80]), name: "c.ndjson"), force: true))
        #expect(!once.resultsVouched)
        #expect(try await storedValue(h) == "80")
    }

    /// A result refused at the merge (its pupil is unknown) is refused again by the next run.
    @Test func aRunWhoseResultWasRefusedAtTheMergeDoesNotVouch() async throws {
        let h = try await ImportHarness.make("vouch-refused")
        defer { h.cleanUp() }
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        let source = try h.source(export([80], unknownPupilResult: true))
        let first = try await h.pipeline.run(h.request(plugin, source: source, maxRejected: 1))
        #expect(first.status == .succeeded, "\(first.failure ?? "")")
        #expect(first.rejected == 1)
        #expect(!first.vouchesForResults)
        let again = try await h.pipeline.run(h.request(plugin, source: source, maxRejected: 1, force: true))
        #expect(!again.resultsVouched)
        #expect(again.rejected == 1)
    }

    /// A result changed by another transaction while a run streams (after it judged what is
    /// stored, before it merges) stops that run vouching: the next lists the results and
    /// writes the line's value back. The plugin waits on a FIFO the test opens once it has
    /// changed the row. (The change also means the run tells the leaver rule its skipped
    /// pupils one by one.)
    @Test func aChangeCommittedWhileARunStreamsStopsItVouching() async throws {
        let h = try await ImportHarness.make("vouch-concurrent")
        defer { h.cleanUp() }
        let gate = h.folder + "/fixture/gate"
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2"; if [ -p "\#(gate)" ]; then read line < "\#(gate)"; fi"#)
        let source = try h.source(export([80]))
        #expect(try await h.pipeline.run(h.request(plugin, source: source)).vouchesForResults)

        // The plugin may run as another user (docs/plugins.md): anyone may open the gate.
        #expect(mkfifo(gate, 0o666) == 0 && chmod(gate, 0o666) == 0)
        let running = Task { try await h.pipeline.run(h.request(plugin, source: source, force: true)) }
        // The FIFO opens for writing once the plugin has opened it to read: the run has read
        // the schools' data versions and judged the result stored.
        var writer: Int32 = -1
        #expect(await eventually(every: .milliseconds(20)) {
            writer = open(gate, O_WRONLY | O_NONBLOCK)
            return writer >= 0
        })
        _ = try await h.query("UPDATE assessments SET value = 1")
        #expect(write(writer, "go\n", 3) == 3)
        close(writer)
        let during = try await running.value
        #expect(during.status == .succeeded, "\(during.failure ?? "")")
        #expect(during.resultsVouched)
        #expect(!during.vouchesForResults)
        #expect(try await storedValue(h) == "1")
        // Its pupil, skipped as stored, was told to the leaver rule by id: still on roll.
        #expect(during.merge.alreadyStored == 2)
        #expect(during.merge.markedLeft == 0)
        try FileManager.default.removeItem(atPath: gate)

        let after = try await h.pipeline.run(h.request(plugin, source: source, force: true))
        #expect(!after.resultsVouched)
        #expect(try await storedValue(h) == "80")
    }
}
