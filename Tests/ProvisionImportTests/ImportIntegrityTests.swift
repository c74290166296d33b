import Foundation
import ProvisionImport
import ProvisionModel
import ProvisionTestSupport
import SampleTrust
import Testing

/// Imports that cannot cross school boundaries, mark pupils left by mistake, or crash.
@Suite("import integrity: school boundaries, leavers, hostile numbers")
struct ImportIntegrityTests {
    @Test func aSourceBoundToOneSchoolCannotRewriteAnotherSchoolsPupil() async throws {
        let h = try await ImportHarness.make("integrity-boundary")
        defer { h.cleanUp() }
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        // School B's own source imports its EHCP pupil and a score.
        let theirs = [
            ProtocolFixture.header(kind: "delta"), ProtocolFixture.pupil(7, school: ProtocolFixture.otherSchool, sen: "E"),
            ProtocolFixture.line([
                "type": "assessment", "school_urn": ProtocolFixture.otherSchool, "upn": ProtocolFixture.upn(7), "instrument": "Salford",
                "subject": "reading", "measure": "age_months", "value": 101, "date": "2025-09-15",
            ]),
            ProtocolFixture.end(["pupil": 1, "assessment": 1]),
        ]
        let first = try await h.pipeline.run(h.request(plugin, source: try h.source(theirs, name: "b.ndjson"), schools: [ProtocolFixture.otherSchool]))
        #expect(first.status == .succeeded, "\(first.failure ?? "")")
        let pupilBefore = try await h.query("SELECT p::text FROM pupils p").scalar(as: String.self)
        let scoresBefore = try await h.query("SELECT string_agg(a.value::text || '@' || a.school_id, ',') FROM assessments a").scalar(as: String.self)

        // School A's source claims the same UPN with another name, SEN status and score.
        var lines = [ProtocolFixture.header(kind: "delta")]
        for n in 1...60 where n != 7 { lines.append(ProtocolFixture.pupil(n)) }
        lines.append(ProtocolFixture.pupil(7, sen: "N").replacingOccurrences(of: "Surname7", with: "Renamed"))
        for n in 1...60 { lines.append(ProtocolFixture.assessment(n, value: 55)) }
        lines.append(ProtocolFixture.end(["pupil": 60, "assessment": 60]))
        var request = h.request(plugin, source: try h.source(lines, name: "a.ndjson"))
        request.maxRejected = 0.05
        let summary = try await h.pipeline.run(request)
        #expect(summary.status == .succeeded, "\(summary.failure ?? "")")
        #expect(summary.merge.rejectedAtMergeByType == ["pupil": 1, "assessment": 1])
        #expect(try await h.query("SELECT p::text FROM pupils p WHERE upn = $1", ProtocolFixture.upn(7)).scalar(as: String.self) == pupilBefore)
        let scoresOfSeven = try await h.query(
            "SELECT string_agg(a.value::text || '@' || a.school_id, ',') FROM assessments a JOIN pupils p ON p.id = a.pupil_id WHERE p.upn = $1",
            ProtocolFixture.upn(7)
        ).scalar(as: String.self)
        #expect(scoresOfSeven == scoresBefore)
        let reasons = try await h.query(
            "SELECT string_agg(reason, ' | ' ORDER BY line) FROM rejected_records WHERE import_run_id = $1", summary.runID
        ).scalar(as: String.self)
        #expect(reasons.contains("on roll at another school of the trust"))
        #expect(reasons.contains("a pupil of another school of the trust"))
        #expect(try await h.query("SELECT count(*) FROM pupils p JOIN schools s ON s.id = p.school_id WHERE s.urn = $1", ProtocolFixture.school).scalar(as: Int.self) == 59)
    }

    /// Sixty pupils on roll, then a snapshot in which some records are rejected.
    func importSixty(_ h: ImportHarness, _ plugin: TestPlugin) async throws {
        let all = try await h.pipeline.run(h.request(plugin, source: try h.source(ProtocolFixture.run(pupils: 60), name: "all.ndjson")))
        #expect(all.status == .succeeded)
    }

    @Test func aPupilWhoseRecordWasRejectedIsNeverMarkedLeft() async throws {
        let h = try await ImportHarness.make("integrity-rejected")
        defer { h.cleanUp() }
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        try await importSixty(h, plugin)
        // Pupil 59 has an impossible date of birth; pupil 60 is missing: only 60 leaves.
        var lines = [ProtocolFixture.header()] + (1...58).map { ProtocolFixture.pupil($0) }
        lines.append(ProtocolFixture.pupil(59).replacingOccurrences(of: #""dob":"2016-09-"#, with: #""dob":"2016-13-"#))
        lines.append(ProtocolFixture.end(["pupil": 59]))
        var request = h.request(plugin, source: try h.source(lines, name: "b.ndjson"))
        request.maxRejected = 0.05
        let summary = try await h.pipeline.run(request)
        #expect(summary.status == .succeeded, "\(summary.failure ?? "")")
        #expect(summary.rejected == 1)
        #expect(summary.merge.markedLeft == 1)
        let left = try await h.query("SELECT upn FROM pupils WHERE NOT on_roll").rows.map { try $0.decode("upn", as: String.self) }
        #expect(left == [ProtocolFixture.upn(60)])
    }

    @Test func aRejectedRecordWithoutAUsableUPNWithholdsItsSchoolsLeavers() async throws {
        let h = try await ImportHarness.make("integrity-malformed")
        defer { h.cleanUp() }
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        try await importSixty(h, plugin)
        // Pupil 59's UPN is mangled (it could be anyone's); pupil 60 is missing.
        var lines = [ProtocolFixture.header()] + (1...58).map { ProtocolFixture.pupil($0) }
        lines.append(ProtocolFixture.pupil(59, upn: "X8012"))
        lines.append(ProtocolFixture.end(["pupil": 59]))
        var request = h.request(plugin, source: try h.source(lines, name: "b.ndjson"))
        request.maxRejected = 0.05
        let summary = try await h.pipeline.run(request)
        #expect(summary.status == .succeeded, "\(summary.failure ?? "")")
        #expect(summary.merge.markedLeft == 0)
        #expect(summary.merge.leaversWithheld == [ProtocolFixture.school])
        #expect(summary.firstReasons.contains { $0.contains("no pupil of \(ProtocolFixture.school) was marked as left") })
        #expect(try await h.query("SELECT count(*) FROM pupils WHERE on_roll").scalar(as: Int.self) == 60)
    }

    @Test func maxRejectedAppliesToEachRecordTypeNotOnlyOverall() async throws {
        let h = try await ImportHarness.make("integrity-per-type")
        defer { h.cleanUp() }
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        try await importSixty(h, plugin)
        let before = try await h.fingerprint()
        // 6 of 60 pupils malformed: 10% of pupils, under 1% of all records.
        var lines = [ProtocolFixture.header()]
        for n in 1...60 { lines.append(n <= 6 ? ProtocolFixture.pupil(n, upn: "BAD\(n)") : ProtocolFixture.pupil(n)) }
        for n in 1...60 { for day in 10...19 { lines.append(ProtocolFixture.assessment(n, value: 90, date: "2025-10-\(day)")) } }
        lines.append(ProtocolFixture.end(["pupil": 60, "assessment": 600]))
        let summary = try await h.pipeline.run(h.request(plugin, source: try h.source(lines, name: "b.ndjson")))
        #expect(summary.status == .failed)
        #expect(summary.inputRejected)
        #expect(summary.failure?.contains("6 of 60 pupil records were rejected (10.0%)") == true, "\(summary.failure ?? "")")
        #expect(try await h.fingerprint() == before)
    }

    @Test func aSnapshotThatWouldEmptyASchoolIsRefusedUnlessForced() async throws {
        let h = try await ImportHarness.make("integrity-leavers")
        defer { h.cleanUp() }
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        try await importSixty(h, plugin)
        let before = try await h.fingerprint()
        let few = [ProtocolFixture.header()] + (1...3).map { ProtocolFixture.pupil($0) } + [ProtocolFixture.end(["pupil": 3])]
        let source = try h.source(few, name: "few.ndjson")
        let refused = try await h.pipeline.run(h.request(plugin, source: source))
        #expect(refused.status == .failed)
        #expect(refused.inputRejected)
        #expect(refused.failure?.contains("would mark 57 of the 60 pupils on roll at school \(ProtocolFixture.school) as left") == true, "\(refused.failure ?? "")")
        #expect(try await h.fingerprint() == before)
        let forced = try await h.pipeline.run(h.request(plugin, source: source, force: true))
        #expect(forced.status == .succeeded)
        #expect(forced.merge.markedLeft == 57)
    }

    @Test func hugeAndOddNumbersAreRejectedNotFatal() async throws {
        let h = try await ImportHarness.make("integrity-numbers")
        defer { h.cleanUp() }
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        let before = try await h.fingerprint()
        let cases = [
            (#"{"type":"end","counts":{"x":1e300}}"#, "end.counts.x must be a whole number from 0 to 1000000000000"),
            (#"{"type":"end","counts":{"pupil":-1e300}}"#, "end.counts.pupil must be a whole number from 0 to"),
            (#"{"type":"end","counts":{"pupil":1e999}}"#, "line 3: not valid JSON: a number is too large (at byte 33)"),
        ]
        for (end, expected) in cases {
            let lines = [ProtocolFixture.header(), ProtocolFixture.pupil(1), end]
            let summary = try await h.pipeline.run(h.request(plugin, source: try h.source(lines, name: "n.ndjson"), force: true))
            #expect(summary.status == .failed)
            #expect(summary.inputRejected)
            #expect(summary.failure?.contains(expected) == true, "\(summary.failure ?? "")")
        }
        #expect(try await h.fingerprint() == before)
    }

    /// A record that names a member twice (two UPNs, a need's code twice) could be either
    /// record: the run fails and says where, rather than keeping the last value written.
    @Test func aKeyWrittenTwiceFailsTheRun() async throws {
        let h = try await ImportHarness.make("integrity-repeated-key")
        defer { h.cleanUp() }
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        try await importSixty(h, plugin)
        let before = try await h.fingerprint()
        let twoUPNs = String(ProtocolFixture.pupil(2).dropLast()) + #","upn":"\#(ProtocolFixture.upn(3))"}"#
        let twoCodes = ProtocolFixture.pupil(4, sen: "K").replacingOccurrences(of: #""code":"SPLD""#, with: #""code":"SPLD","code":"MLD""#)
        #expect(twoCodes != ProtocolFixture.pupil(4, sen: "K"))
        for (line, offset) in [(twoUPNs, twoUPNs.utf8.count - 22), (twoCodes, Array(twoCodes.utf8).firstRange(of: Array(#""code":"MLD""#.utf8))?.lowerBound)] {
            let lines = [ProtocolFixture.header(), ProtocolFixture.pupil(1), line, ProtocolFixture.end(["pupil": 2])]
            let summary = try await h.pipeline.run(h.request(plugin, source: try h.source(lines, name: "twice.ndjson"), force: true))
            #expect(summary.status == .failed)
            #expect(summary.inputRejected)
            let expected = "protocol error: line 3: not valid JSON: an object has the same key twice (which value is meant?) (at byte \((offset ?? -1) + 1))"
            #expect(summary.failure == expected, "\(summary.failure ?? "")")
        }
        #expect(try await h.fingerprint() == before)
    }

    /// Random and adversarial lines: the validator answers every one, and never traps.
    @Test func theValidatorSurvivesFuzzing() throws {
        let adversarial: [[UInt8]] = [
            #"{"type":"end","counts":{"x":1e300}}"#, #"{"type":"end","counts":{"x":-0}}"#, #"{"type":"end","counts":{"x":1e-300}}"#,
            #"{"type":"provision","school_urn":"139001","provision_id":"p","name":"n","wave":1e300,"group_size":-1e300}"#,
            #"{"type":"provision","school_urn":"139001","provision_id":"p","name":"n","minutes_per_session":9.2233720368547758e18}"#,
            #"{"type":"pupil","needs":[{"code":"SPLD","rank":1e300}]}"#, #"{"type":"assessment","value":NaN}"#,
            #"{"type":"assessment","value":Infinity}"#, #"{"type":"pupil","upn":"\u0000\u001b[2J"}"#,
            #"{"type":"\u0000"}"#, #"{"type":1e300}"#, #"{"type":"error","message":"\u001b]0;pwned\u0007"}"#,
            String(repeating: "[", count: 100_000), String(repeating: "{\"a\":", count: 50_000),
            "{\"type\":\"school\",\"name\":\"" + String(repeating: "é", count: 600_000) + "\"}",
        ].map { Array($0.utf8) } + [[0xFF, 0xFE, 0x00, 0x7B], [0x7B, 0x22, 0xC0, 0x80, 0x22, 0x7D], [0x00], []]
        var generator = SeededRandom(seed: 20261130)  // deterministic, so a fuzz failure can be replayed
        let templates = ProtocolFixture.run(pupils: 3).map { Array($0.utf8) }
        var fuzzed: [[UInt8]] = []
        for _ in 0..<3000 {
            var line = templates[Int.random(in: 0..<templates.count, using: &generator)]
            for _ in 0..<Int.random(in: 1...6, using: &generator) where !line.isEmpty {
                let position = Int.random(in: 0..<line.count, using: &generator)
                switch Int.random(in: 0..<4, using: &generator) {
                case 0: line[position] = UInt8.random(in: 0...255, using: &generator)
                case 1: line.insert(contentsOf: Array(["1e308", "-1e309", "0.5", "\"\"", "null", "[]", "{}"][Int.random(in: 0..<7, using: &generator)].utf8), at: position)
                case 2: line.remove(at: position)
                default: line.insert(contentsOf: Array("9".utf8) + Array(repeating: UInt8(ascii: "9"), count: Int.random(in: 1...400, using: &generator)), at: position)
                }
            }
            fuzzed.append(line)
        }
        var answered = 0
        for lines in [adversarial, fuzzed] {
            var validator = RecordStreamValidator(pluginName: "fixture", boundSchools: [ProtocolFixture.school], today: nil)
            _ = try validator.consume(Array(ProtocolFixture.header().utf8), number: 1)
            for (index, line) in lines.enumerated() {
                do {
                    _ = try validator.consume(line, number: index + 2)
                } catch {
                    #expect(!error.description.isEmpty)
                }
                answered += 1
            }
            _ = try? validator.finish()
        }
        #expect(answered == adversarial.count + fuzzed.count)
        // The first adversarial line on its own is the protocol error it should be.
        var validator = RecordStreamValidator(pluginName: "fixture", boundSchools: nil, today: nil)
        _ = try validator.consume(Array(ProtocolFixture.header().utf8), number: 1)
        #expect(throws: ProtocolViolation(line: 2, "end.counts.x must be a whole number from 0 to 1000000000000")) {
            _ = try validator.consume(adversarial[0], number: 2)
        }
    }
}
