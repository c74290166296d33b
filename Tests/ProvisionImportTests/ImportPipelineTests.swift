import Foundation
import Postgres
@testable import ProvisionImport
import ProvisionTestSupport
import Synchronization
import Testing

@Suite("import pipeline with real plugin processes")
struct ImportPipelineTests {
    @Test func importsAValidRunAndSkipsItWhenUnchanged() async throws {
        let h = try await ImportHarness.make("import-ok")
        defer { h.cleanUp() }
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        let source = try h.source(ProtocolFixture.run(pupils: 20))
        let first = try await h.pipeline.run(h.request(plugin, source: source))
        #expect(first.status == .succeeded, "\(first.failure ?? "")")
        #expect(first.merge.inserted["pupils"] == 20)
        #expect(first.merge.inserted["assessments"] == 20)
        #expect(try await h.query("SELECT count(*) FROM pupils WHERE import_run_id = $1", first.runID).scalar(as: Int.self) == 20)

        let second = try await h.pipeline.run(h.request(plugin, source: source))
        #expect(second.status == .unchanged)

        // Forced, the same input changes nothing at all.
        let before = try await h.fingerprint()
        let forced = try await h.pipeline.run(h.request(plugin, source: source, force: true))
        #expect(forced.status == .succeeded)
        #expect(forced.merge.changedRows == 0)
        #expect(try await h.fingerprint() == before)
        // The forced run hashed its input beside the run and recorded it: unforced, the same
        // input is unchanged again.
        let third = try await h.pipeline.run(h.request(plugin, source: source))
        #expect(third.status == .unchanged)
        let runs = try await h.query("SELECT status, input_checksum FROM import_runs ORDER BY id").rows.map {
            (try $0.decode("status", as: String.self), try $0.decode("input_checksum", as: String?.self))
        }
        #expect(runs.map(\.0) == ["succeeded", "unchanged", "succeeded", "unchanged"])
        #expect(runs.compactMap(\.1).count == 4 && Set(runs.compactMap(\.1)).count == 1, "\(runs)")
    }

    /// A plugin writes what it likes when it likes: the supervisor cuts the stream into
    /// lines at its newlines wherever its reads end, counts blank lines, and takes a last
    /// line with no newline after it.
    @Test func linesAreReadWholeHoweverThePluginWritesThem() async throws {
        let h = try await ImportHarness.make("line-split")
        defer { h.cleanUp() }
        let lines = [
            ProtocolFixture.header(), ProtocolFixture.pupil(1), "", ProtocolFixture.pupil(2),
            ProtocolFixture.pupil(3, upn: "BAD"), ProtocolFixture.pupil(4), ProtocolFixture.end(["pupil": 4]),
        ]
        let path = h.folder + "/input.ndjson"
        try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        // Thirteen bytes a write: every line arrives in pieces, some pieces hold a newline.
        let plugin = try TestPlugin.make(in: h.folder, body: #"dd if="$2" bs=13 2>/dev/null"#)
        let summary = try await h.pipeline.run(h.request(plugin, source: path, maxRejected: 0.5))
        #expect(summary.status == .succeeded, "\(summary.failure ?? "")")
        #expect(summary.sent["pupil"] == 4)
        #expect(summary.accepted["pupil"] == 3)
        #expect(summary.rejected == 1)
        #expect(summary.firstReasons.first?.hasPrefix("line 5: pupil.upn") == true, "\(summary.firstReasons)")
        #expect(try await h.query("SELECT count(*) FROM pupils").scalar(as: Int.self) == 3)
    }

    @Test func progressIsReportedWhileReadingAndWhenTheMergeStarts() async throws {
        let h = try await ImportHarness.make("import-progress")
        defer { h.cleanUp() }
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        let lines = ProtocolFixture.run(pupils: 12_000)  // header, 24,000 records, end
        let source = try h.source(lines)
        let seen = Mutex<[ImportProgress]>([])
        var pipeline = h.pipeline
        pipeline.onProgress = { progress in seen.withLock { $0.append(progress) } }
        let summary = try await pipeline.run(h.request(plugin, source: source))
        #expect(summary.status == .succeeded, "\(summary.failure ?? "")")
        let reports = seen.withLock { $0 }
        #expect(reports.map(\.phase) == [.reading, .reading, .merging])
        #expect(reports.map(\.records) == [10_000, 20_000, lines.count])
        // Bytes are the lines read, newlines included: all of them by the merge.
        #expect(reports.last?.bytes == lines.reduce(0) { $0 + $1.utf8.count + 1 })
        #expect(reports.allSatisfy { $0.source == "test-source" })
        // Nothing tells a source's first run how long it is.
        #expect(reports.allSatisfy { $0.expectedRecords == nil && $0.timeLeft == nil })

        // The next run expects the last one's lines, and says how long reading has left
        // while it is short of them.
        seen.withLock { $0 = [] }
        let again = try await pipeline.run(h.request(plugin, source: source, force: true))
        #expect(again.status == .succeeded, "\(again.failure ?? "")")
        let next = seen.withLock { $0 }
        #expect(next.map(\.phase) == [.reading, .reading, .merging])
        #expect(next.map(\.expectedRecords) == Array(repeating: lines.count, count: 3))
        #expect(next.prefix(2).allSatisfy { $0.timeLeft != nil }, "\(next.map(\.timeLeft))")
        #expect(next.last?.timeLeft == nil)
    }

    @Test func aPluginThatCrashesHalfWayLeavesTheDatabaseAsItWas() async throws {
        let h = try await ImportHarness.make("import-crash")
        defer { h.cleanUp() }
        let good = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        _ = try await h.pipeline.run(h.request(good, source: try h.source(ProtocolFixture.run(pupils: 5), name: "a.ndjson")))
        let before = try await h.fingerprint()
        let crashing = try TestPlugin.make(in: h.folder + "/crash", body: #"head -n 15 "$2"; echo "segfault-ish" >&2; exit 3"#)
        let summary = try await h.pipeline.run(h.request(crashing, source: try h.source(ProtocolFixture.run(pupils: 30), name: "b.ndjson")))
        #expect(summary.status == .failed)
        #expect(summary.failure == "the plugin exited with status 3")
        #expect(summary.inputRejected == false)
        #expect(summary.stderr.contains("segfault-ish"))
        #expect(try await h.fingerprint() == before)
        let stored = try await h.query("SELECT status, failure FROM import_runs WHERE id = $1", summary.runID).singleRow()
        #expect(try stored?.decode("status", as: String.self) == "failed")
    }

    @Test func aHungPluginIsKilledWithEverythingItStarted() async throws {
        let h = try await ImportHarness.make("import-hang")
        defer { h.cleanUp() }
        // Children in the background and in a session of their own, each with a marker in its
        // command line so the test can look for survivors in the machine's process table.
        // Each says so on stderr if its five minutes run out: a run that waited for them
        // (for the pipes they hold) would return with those lines, not merely late. No
        // wall-clock bound: a test run on two busy cores once took 64 s to get this far.
        let marker = Int.random(in: 100_000...999_999)
        let plugin = try TestPlugin.make(in: h.folder, body: """
            head -n 3 "$2"
            (sleep 300.\(marker)1; echo "child 1 finished" >&2) &
            setsid sh -c 'sleep 300.\(marker)2; echo "child 2 finished" >&2' &
            sleep 300.\(marker)3; echo "the plugin finished" >&2
            """)
        let before = try await h.fingerprint()
        let summary = try await h.pipeline.run(h.request(plugin, source: try h.source(ProtocolFixture.run(pupils: 5)), timeout: .seconds(2)))
        #expect(summary.status == .failed)
        #expect(summary.failure?.contains("did not finish within 2 s") == true)
        #expect(!summary.stderr.contains("finished"), "\(summary.stderr)")
        #expect(try await h.fingerprint() == before)
        #expect(await LiveProcesses.noneMatch("sleep 300.\(marker)"), "a child of the plugin survived: \(LiveProcesses.matching("sleep 300.\(marker)"))")
    }

    @Test func invalidJSONFailsTheRunAndWritesNothing() async throws {
        let h = try await ImportHarness.make("import-json")
        defer { h.cleanUp() }
        var lines = ProtocolFixture.run(pupils: 10)
        lines.insert(#"{"type": "pupil", "upn": "#, at: 5)
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        let before = try await h.fingerprint()
        let summary = try await h.pipeline.run(h.request(plugin, source: try h.source(lines)))
        #expect(summary.status == .failed)
        #expect(summary.failure == "protocol error: line 6: not valid JSON: ends where a value was expected (at the end)")
        #expect(summary.inputRejected)
        #expect(try await h.fingerprint() == before)
    }

    @Test func lyingEndCountsFailTheRun() async throws {
        let h = try await ImportHarness.make("import-lie")
        defer { h.cleanUp() }
        var lines = ProtocolFixture.run(pupils: 10)
        lines[lines.count - 1] = ProtocolFixture.end(["pupil": 12, "assessment": 10])
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        let summary = try await h.pipeline.run(h.request(plugin, source: try h.source(lines)))
        #expect(summary.status == .failed)
        #expect(summary.failure?.contains("pupil: end says 12, sent 10") == true)
        #expect(try await h.fingerprint()["pupils"]?.hasPrefix("0:") == true)
    }

    @Test func missingHeaderOrEndFailsTheRun() async throws {
        let h = try await ImportHarness.make("import-frame")
        defer { h.cleanUp() }
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        let noHeader = try await h.pipeline.run(h.request(plugin, source: try h.source(Array(ProtocolFixture.run(pupils: 3).dropFirst()), name: "a.ndjson")))
        #expect(noHeader.failure?.contains("the first line must be a header record") == true)
        let noEnd = try await h.pipeline.run(h.request(plugin, source: try h.source(Array(ProtocolFixture.run(pupils: 3).dropLast()), name: "b.ndjson")))
        #expect(noEnd.failure?.contains("without an end record") == true)
        let wrongName = try await h.pipeline.run(h.request(plugin, source: try h.source(ProtocolFixture.run(pupils: 3, plugin: "other"), name: "c.ndjson")))
        #expect(wrongName.failure?.contains("header.plugin is 'other' but the manifest names 'fixture'") == true)
        #expect(try await h.fingerprint()["pupils"]?.hasPrefix("0:") == true)
    }

    @Test func recordsForAnUnboundSchoolAreRejected() async throws {
        let h = try await ImportHarness.make("import-unbound")
        defer { h.cleanUp() }
        var lines = [ProtocolFixture.header()]
        for n in 1...10 { lines.append(ProtocolFixture.pupil(n, school: n == 10 ? ProtocolFixture.otherSchool : ProtocolFixture.school)) }
        lines.append(ProtocolFixture.end(["pupil": 10]))
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        // 1 in 10 rejected: over the 2% default, so the whole run fails...
        let strict = try await h.pipeline.run(h.request(plugin, source: try h.source(lines)))
        #expect(strict.status == .failed)
        #expect(strict.firstReasons.first?.contains("is for school 139002, which this source is not bound to") == true)
        #expect(try await h.fingerprint()["pupils"]?.hasPrefix("0:") == true)
        // ...and with a looser threshold only the bound school's records are merged.
        let loose = try await h.pipeline.run(h.request(plugin, source: try h.source(lines), maxRejected: 0.2, force: true))
        #expect(loose.status == .succeeded)
        #expect(try await h.query("SELECT count(*) FROM pupils").scalar(as: Int.self) == 9)
        #expect(try await h.query("SELECT count(*) FROM schools WHERE urn = $1", ProtocolFixture.otherSchool).scalar(as: Int.self) == 0)
        let stored = try await h.query(
            "SELECT line, reason FROM rejected_records WHERE import_run_id = $1 AND severity = 'rejected'", loose.runID).rows
        #expect(stored.count == 1)
        #expect(try stored.first?.decode("line", as: Int.self) == 11)
    }

    @Test(arguments: [(1, true), (10, false)])
    func malformedUPNsUpToTheThresholdAreRejectedAndTheRestMerged(percent: Int, merges: Bool) async throws {
        let h = try await ImportHarness.make("import-upn\(percent)")
        defer { h.cleanUp() }
        var lines = [ProtocolFixture.header()]
        for n in 1...200 {
            let bad = n % (100 / percent) == 0
            lines.append(ProtocolFixture.pupil(n, upn: bad ? "X12345" : nil))
        }
        lines.append(ProtocolFixture.end(["pupil": 200]))
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        let summary = try await h.pipeline.run(h.request(plugin, source: try h.source(lines)))
        #expect(summary.rejected == 2 * percent)
        #expect(summary.firstReasons.first?.contains("pupil.upn is malformed: UPN must be 13 characters, got 6") == true)
        let pupils = try await h.query("SELECT count(*) FROM pupils").scalar(as: Int.self)
        if merges {
            #expect(summary.status == .succeeded)
            #expect(pupils == 198)
        } else {
            #expect(summary.status == .failed)
            #expect(summary.failure?.contains("20 of 200 records were rejected (10.0%), more than the 2% allowed") == true)
            #expect(pupils == 0)
        }
    }

    @Test func aWrongCheckLetterIsKeptWithAWarning() async throws {
        let h = try await ImportHarness.make("import-check")
        defer { h.cleanUp() }
        let good = ProtocolFixture.upn(7)
        let wrongLetter = (good.first == "A" ? "B" : "A") + good.dropFirst()
        let lines = [ProtocolFixture.header(), ProtocolFixture.pupil(7, upn: wrongLetter), ProtocolFixture.end(["pupil": 1])]
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        let summary = try await h.pipeline.run(h.request(plugin, source: try h.source(lines)))
        #expect(summary.status == .succeeded)
        #expect(summary.warnings == 1)
        #expect(summary.rejected == 0)
        let row = try await h.query("SELECT upn_warning FROM pupils WHERE upn = $1", wrongLetter).singleRow()
        #expect(try row?.decode("upn_warning", as: String?.self)?.contains("check letter") == true)
        let warning = try await h.query("SELECT severity FROM rejected_records WHERE import_run_id = $1", summary.runID).singleRow()
        #expect(try warning?.decode("severity", as: String.self) == "warning")
    }

    @Test func aStderrFloodIsCappedAndTheRunStillSucceeds() async throws {
        let h = try await ImportHarness.make("import-stderr")
        defer { h.cleanUp() }
        let plugin = try TestPlugin.make(in: h.folder, body: #"head -c 5000000 /dev/zero | tr '\0' 'e' >&2; cat "$2""#)
        let summary = try await h.pipeline.run(h.request(plugin, source: try h.source(ProtocolFixture.run(pupils: 5))))
        #expect(summary.status == .succeeded, "\(summary.failure ?? "") \(summary.stderr.prefix(200))")
        #expect(summary.stderr.utf8.count < 70 * 1024)
        #expect(summary.stderr.contains("more bytes of stderr not kept"))
    }

    @Test func aByteOrderMarkBeforeTheFirstLineIsIgnoredAndOneLaterIsNot() async throws {
        let h = try await ImportHarness.make("import-bom")
        defer { h.cleanUp() }
        let source = try h.source(ProtocolFixture.run(pupils: 3))
        let first = try TestPlugin.make(in: h.folder, body: #"printf '\357\273\277'; cat "$2""#)
        let summary = try await h.pipeline.run(h.request(first, source: source))
        #expect(summary.status == .succeeded, "\(summary.failure ?? "")")
        #expect(try await h.fingerprint()["pupils"]?.hasPrefix("3:") == true)
        // Only the output's start may carry one: before the second line it is bad JSON.
        let second = try TestPlugin.make(in: h.folder + "/later", body: #"head -n 1 "$2"; printf '\357\273\277'; tail -n +2 "$2""#)
        let later = try await h.pipeline.run(h.request(second, source: source, force: true))
        #expect(later.status == .failed)
        #expect(later.failure?.contains("line 2: not valid JSON") == true, "\(later.failure ?? "")")
    }

    @Test func anOversizedStdoutIsCutOff() async throws {
        let h = try await ImportHarness.make("import-stdout")
        defer { h.cleanUp() }
        // A header, then the same pupil record for ever: no protocol error, just too much.
        let plugin = try TestPlugin.make(in: h.folder, body: #"head -n 1 "$2"; yes "$(sed -n 2p "$2")""#)
        let summary = try await h.pipeline.run(h.request(plugin, source: try h.source(ProtocolFixture.run(pupils: 50)), maxStdout: 200_000))
        #expect(summary.status == .failed)
        #expect(summary.failure?.contains("more than 200000 bytes") == true)
        #expect(try await h.fingerprint()["pupils"]?.hasPrefix("0:") == true)
    }

    @Test func aPluginSeesNoSecretsInItsEnvironment() async throws {
        let h = try await ImportHarness.make("import-env")
        defer { h.cleanUp() }
        setenv("PGPASSWORD", "hunter2-secret", 1)
        setenv("PROVISION_DATABASE_PASSWORD", "another-secret", 1)
        defer {
            unsetenv("PGPASSWORD")
            unsetenv("PROVISION_DATABASE_PASSWORD")
        }
        // The sandbox lets the plugin write nowhere but its scratch space: it reports on stderr.
        let plugin = try TestPlugin.make(in: h.folder, body: """
            env >&2
            pwd >&2
            cat "$2"
            """)
        var request = h.request(plugin, source: try h.source(ProtocolFixture.run(pupils: 2)))
        request.environment = ["MIS_PROFILE": "sims"]
        let summary = try await h.pipeline.run(request)
        #expect(summary.status == .succeeded)
        let seen = summary.stderr
        #expect(!seen.contains("secret"))
        #expect(!seen.contains(h.url))
        #expect(!seen.contains("postgresql"))
        let names = Set(seen.split(separator: "\n").compactMap { $0.split(separator: "=").first.map(String.init) })
        #expect(names.isSuperset(of: ["PATH", "LANG", "TZ", "PROVISION_PROTOCOL", "PROVISION_SCHOOLS", "MIS_PROFILE"]))
        #expect(names.subtracting(["PATH", "LANG", "TZ", "PROVISION_PROTOCOL", "PROVISION_SCHOOLS", "MIS_PROFILE", "PWD", "SHLVL", "_", "/tmp"]).filter { !$0.hasPrefix("/") }.isEmpty, "unexpected: \(names)")
        #expect(seen.contains("PROVISION_SCHOOLS=139001"))
        // The working directory was the sandbox's private scratch folder.
        let workdir = try #require(seen.split(separator: "\n").last.map(String.init))
        #expect(workdir == PluginSandbox.scratchFolder)
    }

    @Test func aSnapshotMarksMissingPupilsAsLeftAndNeverDeletesThem() async throws {
        let h = try await ImportHarness.make("import-left")
        defer { h.cleanUp() }
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        _ = try await h.pipeline.run(h.request(plugin, source: try h.source(ProtocolFixture.run(pupils: 10), name: "a.ndjson")))
        // One of ten leaves: within plugins.max_leavers (10%).
        let smaller = [ProtocolFixture.header()] + (1...9).map { ProtocolFixture.pupil($0) } + [ProtocolFixture.end(["pupil": 9])]
        let summary = try await h.pipeline.run(h.request(plugin, source: try h.source(smaller, name: "b.ndjson")))
        #expect(summary.status == .succeeded, "\(summary.failure ?? "")")
        #expect(summary.merge.markedLeft == 1)
        let rows = try await h.query("SELECT upn, on_roll FROM pupils ORDER BY upn").rows
        #expect(rows.count == 10)
        let left = try await h.query("SELECT upn FROM pupils WHERE NOT on_roll").scalar(as: String.self)
        #expect(left == ProtocolFixture.upn(10))
        // Assessments of the leaver are kept.
        #expect(try await h.query("SELECT count(*) FROM assessments").scalar(as: Int.self) == 10)
        // A marksheet with no pupil records leaves pupils alone; a delta never marks leavers.
        let marksheet = [ProtocolFixture.header(), ProtocolFixture.assessment(1, value: 99, date: "2026-01-10"), ProtocolFixture.end(["assessment": 1])]
        let marks = try await h.pipeline.run(h.request(plugin, source: try h.source(marksheet, name: "c.ndjson")))
        #expect(marks.merge.markedLeft == 0)
        let delta = [ProtocolFixture.header(kind: "delta"), ProtocolFixture.pupil(1), ProtocolFixture.end(["pupil": 1])]
        let deltaRun = try await h.pipeline.run(h.request(plugin, source: try h.source(delta, name: "d.ndjson")))
        #expect(deltaRun.status == .succeeded)
        #expect(deltaRun.merge.markedLeft == 0)
        #expect(try await h.query("SELECT count(*) FROM pupils WHERE on_roll").scalar(as: Int.self) == 9)
    }

    @Test func assessmentsForUnknownPupilsAreRejectedAtMerge() async throws {
        let h = try await ImportHarness.make("import-unknown")
        defer { h.cleanUp() }
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        var lines = [ProtocolFixture.header()]
        for n in 1...100 {
            lines.append(ProtocolFixture.pupil(n))
            lines.append(ProtocolFixture.assessment(n, value: 80))
        }
        lines.append(ProtocolFixture.assessment(500, value: 80))
        lines.append(ProtocolFixture.end(["pupil": 100, "assessment": 101]))
        let summary = try await h.pipeline.run(h.request(plugin, source: try h.source(lines)))
        #expect(summary.status == .succeeded)
        #expect(summary.merge.rejectedAtMerge == 1)
        #expect(try await h.query("SELECT count(*) FROM assessments").scalar(as: Int.self) == 100)
        let reason = try await h.query("SELECT reason FROM rejected_records WHERE import_run_id = $1", summary.runID).scalar(as: String.self)
        #expect(reason.contains("not a pupil known to the trust"))
    }

    /// The results the merge rejects for their pupil are found in one pass: each is recorded
    /// with the first reason it meets, and the reasons are summed in the rules' order.
    @Test func eachResultRejectedAtMergeHasItsFirstReason() async throws {
        let h = try await ImportHarness.make("import-merge-reasons")
        defer { h.cleanUp() }
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        // Pupil 7 is the other school's.
        let theirs = [ProtocolFixture.header(kind: "delta"), ProtocolFixture.pupil(7, school: ProtocolFixture.otherSchool),
                      ProtocolFixture.end(["pupil": 1])]
        let first = try await h.pipeline.run(h.request(plugin, source: try h.source(theirs, name: "b.ndjson"), schools: [ProtocolFixture.otherSchool]))
        #expect(first.status == .succeeded, "\(first.failure ?? "")")
        // Pupil 2 is born on 2016-09-03. Lines 2–4 are pupils, 5–10 results.
        let lines = [
            ProtocolFixture.header(kind: "delta"), ProtocolFixture.pupil(1), ProtocolFixture.pupil(2), ProtocolFixture.pupil(3),
            ProtocolFixture.assessment(2, value: 70, date: "2016-09-01"),  // before birth
            ProtocolFixture.assessment(7, value: 70),  // another school's pupil
            ProtocolFixture.assessment(500, value: 70),  // unknown
            ProtocolFixture.assessment(1, value: 70),
            ProtocolFixture.assessment(501, value: 70, date: "2001-01-01"),  // unknown, whatever its date
            ProtocolFixture.assessment(2, value: 70),
            ProtocolFixture.end(["pupil": 3, "assessment": 6]),
        ]
        let summary = try await h.pipeline.run(h.request(plugin, source: try h.source(lines, name: "a.ndjson"), maxRejected: 0.9))
        #expect(summary.status == .succeeded, "\(summary.failure ?? "")")
        #expect(summary.merge.rejectedAtMergeByType == ["assessment": 4])
        #expect(summary.merge.reasons == [
            "2 assessment record(s): assessment.upn is not a pupil known to the trust; import the pupils (CTF) first",
            "1 assessment record(s): assessment.upn is a pupil of another school of the trust, which this source is not bound to",
            "1 assessment record(s): assessment.date is before the pupil's date of birth",
        ])
        let recorded = try await h.query(
            "SELECT line, reason FROM rejected_records WHERE import_run_id = $1 ORDER BY line", summary.runID
        ).rows.map { "\(try $0.decode("line", as: Int.self)): \(try $0.decode("reason", as: String.self).prefix(22))" }
        #expect(recorded == [
            "5: assessment.date is bef", "6: assessment.upn is a pu", "7: assessment.upn is not ", "9: assessment.upn is not ",
        ])
        #expect(try await h.query("SELECT count(*) FROM assessments").scalar(as: Int.self) == 2)
    }

    /// A result dated before its pupil was born (whether the pupil came in the same run or
    /// an earlier one) is rejected with the reason, and the pupil's other results are kept.
    @Test func resultsDatedBeforeThePupilsBirthAreRejectedAtMerge() async throws {
        let h = try await ImportHarness.make("import-before-birth")
        defer { h.cleanUp() }
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        // Pupil 1 is born on 2016-09-02.
        let first = [
            ProtocolFixture.header(), ProtocolFixture.pupil(1), ProtocolFixture.assessment(1, value: 80),
            ProtocolFixture.assessment(1, value: 70, date: "2016-09-01"), ProtocolFixture.end(["pupil": 1, "assessment": 2]),
        ]
        // (One rejection in a handful of records is more than the default 2% allows.)
        let summary = try await h.pipeline.run(h.request(plugin, source: try h.source(first, name: "a.ndjson"), maxRejected: 0.5))
        #expect(summary.status == .succeeded, "\(summary.failure ?? "")")
        #expect(summary.merge.rejectedAtMergeByType == ["assessment": 1])
        #expect(summary.merge.reasons == ["1 assessment record(s): assessment.date is before the pupil's date of birth"])
        let line = try await h.query("SELECT line FROM rejected_records WHERE import_run_id = $1", summary.runID).scalar(as: Int.self)
        #expect(line == 4)
        // A marksheet of a pupil already stored, with the day of birth itself (kept) and the day before.
        let marksheet = [
            ProtocolFixture.header(kind: "delta"), ProtocolFixture.assessment(1, value: 1, date: "2016-09-02"),
            ProtocolFixture.assessment(1, value: 2, date: "2015-12-01"), ProtocolFixture.end(["assessment": 2]),
        ]
        let marks = try await h.pipeline.run(h.request(plugin, source: try h.source(marksheet, name: "b.ndjson"), maxRejected: 0.5))
        #expect(marks.status == .succeeded, "\(marks.failure ?? "")")
        #expect(marks.merge.rejectedAtMergeByType == ["assessment": 1])
        let kept = try await h.query("SELECT string_agg(assessed_on::text, ' ' ORDER BY assessed_on) FROM assessments").scalar(as: String.self)
        #expect(kept == "2016-09-02 2025-09-15")
    }

    /// Results are staged in typed columns, not as JSON: the value and date arrive exactly,
    /// and of two results with one natural key the later line wins.
    @Test func resultsKeepTheirExactValuesAndTheLastOfARepeatWins() async throws {
        let h = try await ImportHarness.make("import-results")
        defer { h.cleanUp() }
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        let lines = [
            ProtocolFixture.header(), ProtocolFixture.pupil(1), ProtocolFixture.pupil(2),
            ProtocolFixture.assessment(1, value: 80), ProtocolFixture.assessment(2, value: 90.25, date: "2026-02-28"),
            ProtocolFixture.assessment(1, value: 81.5), ProtocolFixture.end(["pupil": 2, "assessment": 3]),
        ]
        let summary = try await h.pipeline.run(h.request(plugin, source: try h.source(lines)))
        #expect(summary.status == .succeeded)
        #expect(summary.merge.duplicates == 1)
        let rows = try await h.query(
            "SELECT p.upn || ' ' || a.value::text || ' ' || a.assessed_on::text AS row FROM assessments a JOIN pupils p ON p.id = a.pupil_id ORDER BY a.value"
        ).rows.map { try $0.decode("row", as: String.self) }
        #expect(rows == ["\(ProtocolFixture.upn(1)) 81.5 2025-09-15", "\(ProtocolFixture.upn(2)) 90.25 2026-02-28"])
    }

    /// Imports pupil 1 with a result of 80 on 15 September 2025.
    private func storePupilOneWithAResult(_ h: ImportHarness, _ plugin: TestPlugin) async throws {
        let lines = [
            ProtocolFixture.header(), ProtocolFixture.pupil(1), ProtocolFixture.assessment(1, value: 80),
            ProtocolFixture.end(["pupil": 1, "assessment": 1]),
        ]
        #expect(try await h.pipeline.run(h.request(plugin, source: try h.source(lines))).status == .succeeded)
    }

    /// A new pupil's results and an existing pupil's of a new key take a plain insert, and an
    /// existing pupil's of a stored key the upsert: in one run all land, a repeat of the new
    /// pupil's key keeps its last line, and running the same input again changes nothing.
    @Test func resultsOfNewAndExistingPupilsLandTogether() async throws {
        let h = try await ImportHarness.make("import-results-mixed")
        defer { h.cleanUp() }
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        try await storePupilOneWithAResult(h, plugin)
        let second = [
            ProtocolFixture.header(), ProtocolFixture.pupil(1), ProtocolFixture.pupil(2),
            ProtocolFixture.assessment(1, value: 82), ProtocolFixture.assessment(1, value: 88, date: "2026-01-15"),
            ProtocolFixture.assessment(2, value: 70), ProtocolFixture.assessment(2, value: 71),
            ProtocolFixture.end(["pupil": 2, "assessment": 4]),
        ]
        let source = try h.source(second)
        let summary = try await h.pipeline.run(h.request(plugin, source: source))
        #expect(summary.status == .succeeded, "\(summary.failure ?? "")")
        #expect(summary.merge.inserted["assessments"] == 2)
        #expect(summary.merge.updated["assessments"] == 1)
        #expect(summary.merge.duplicates == 1)
        let rows = try await h.query(
            "SELECT p.upn || ' ' || a.value::text || ' ' || a.assessed_on::text AS row FROM assessments a JOIN pupils p ON p.id = a.pupil_id ORDER BY a.value"
        ).rows.map { try $0.decode("row", as: String.self) }
        #expect(rows == [
            "\(ProtocolFixture.upn(2)) 71 2025-09-15", "\(ProtocolFixture.upn(1)) 82 2025-09-15", "\(ProtocolFixture.upn(1)) 88 2026-01-15",
        ])
        let again = try await h.pipeline.run(h.request(plugin, source: source, force: true))
        #expect(again.status == .succeeded, "\(again.failure ?? "")")
        #expect(again.merge.changedRows == 0)
    }

    /// A result whose key was not stored when it was staged takes a plain insert; if another
    /// transaction stores that key meanwhile (a source filing the pupil's result under another
    /// school), the insert fails on the key, is undone to its savepoint, and the results take
    /// the checked insert: the run succeeds, and the later line wins as it would have.
    @Test func aResultStoredMeanwhileByAnotherTransactionTakesTheCheckedInsert() async throws {
        let h = try await ImportHarness.make("import-results-race")
        defer { h.cleanUp() }
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        try await storePupilOneWithAResult(h, plugin)

        // Another transaction stores pupil 1's result of 15 January and stays open. Its
        // triggers are off, so that it holds no lock on the school's row (whose data version
        // they raise) and the run reaches its results before waiting for it.
        let other = try await PostgresConnection.connect(h.url)
        let watcher = try await PostgresConnection.connect(h.url)
        try await other.execute("BEGIN")
        try await other.execute("SET LOCAL session_replication_role = replica")
        try await other.execute(
            """
            INSERT INTO results (pupil_id, school_id, test_id, value, assessed_on)
            SELECT p.id, p.school_id, t.id, 60, '2026-01-15' FROM pupils p
              JOIN result_tests t ON (t.instrument, t.subject, t.measure) = ('Salford', 'reading', 'age_months')
            """)
        let otherPID = try await other.query("SELECT pg_backend_pid()").scalar(as: Int.self)
        let second = [
            ProtocolFixture.header(), ProtocolFixture.pupil(1), ProtocolFixture.assessment(1, value: 88, date: "2026-01-15"),
            ProtocolFixture.assessment(1, value: 90, date: "2026-03-15"), ProtocolFixture.end(["pupil": 1, "assessment": 2]),
        ]
        let request = h.request(plugin, source: try h.source(second))
        let pipeline = h.pipeline
        let running = Task { try await pipeline.run(request) }
        // The run's plain insert of the results comes to wait for the other transaction's row
        // of the same key; the other then commits.
        var waiting: String?
        _ = try await eventually {
            waiting = try await watcher.query(
                """
                SELECT query FROM pg_stat_activity
                 WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> $1
                """, otherPID
            ).rows.first?.decode("query", as: String.self)
            return waiting != nil
        }
        #expect(waiting?.contains("NOT s.stored") == true, "\(waiting ?? "the run never waited")")
        try await other.execute("COMMIT")
        let summary = try await running.value
        #expect(summary.status == .succeeded, "\(summary.failure ?? "")")
        #expect(summary.merge.inserted["assessments"] == 1)
        #expect(summary.merge.updated["assessments"] == 1)
        let rows = try await h.query("SELECT a.value::text || ' ' || a.assessed_on::text AS row FROM assessments a ORDER BY a.assessed_on")
            .rows.map { try $0.decode("row", as: String.self) }
        #expect(rows == ["80 2025-09-15", "88 2026-01-15", "90 2026-03-15"])
        await other.close()
        await watcher.close()
    }

    /// Pupils are staged in typed columns: every field arrives as sent, a record that lists no
    /// `needs` leaves the pupil's needs alone, and one that lists none removes them.
    @Test func pupilsKeepEveryFieldAndTheirNeedsChangeOnlyWhenListed() async throws {
        let h = try await ImportHarness.make("import-pupil-fields")
        defer { h.cleanUp() }
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        var pupil: [String: Any] = [
            "type": "pupil", "school_urn": ProtocolFixture.school, "upn": ProtocolFixture.upn(1), "surname": "Ó Briain",
            "forename": "Áine\tMarie", "dob": "2016-02-29", "gender": "F", "year_group": "R", "admission_date": "2020-09-01",
            "leaving_date": "2025-07-18", "sen_provision": "E", "sen_start_date": "2021-01-04", "fsm": true,
            "pupil_premium": false, "eal": true, "looked_after": false, "needs": [["code": "SLCN", "rank": 1], ["code": "ASD", "rank": 2]],
        ]
        func run(_ record: [String: Any]) async throws {
            let lines = [ProtocolFixture.header(), ProtocolFixture.line(record), ProtocolFixture.end(["pupil": 1])]
            let summary = try await h.pipeline.run(h.request(plugin, source: try h.source(lines), force: true))
            #expect(summary.status == .succeeded, "\(summary.failure ?? "")")
        }
        func stored() async throws -> String {
            try await h.query(
                """
                SELECT concat_ws('|', surname, forename, dob, gender, year_group, admission_date, leaving_date, on_roll,
                                 sen_provision, sen_start_date, fsm, pupil_premium, eal, looked_after, upn_warning) AS row
                  FROM pupils
                """
            ).scalar(as: String.self)
        }
        func needs() async throws -> [String] {
            try await h.query("SELECT code || rank AS need FROM pupil_needs ORDER BY rank").rows.map { try $0.decode("need", as: String.self) }
        }
        try await run(pupil)
        #expect(try await stored() == "Ó Briain|Áine\tMarie|2016-02-29|F|R|2020-09-01|2025-07-18|f|E|2021-01-04|t|f|t|f")
        #expect(try await needs() == ["SLCN1", "ASD2"])
        pupil["needs"] = nil
        pupil["fsm"] = nil
        pupil["leaving_date"] = nil
        try await run(pupil)
        #expect(try await stored() == "Ó Briain|Áine\tMarie|2016-02-29|F|R|2020-09-01|t|E|2021-01-04|f|t|f")
        #expect(try await needs() == ["SLCN1", "ASD2"])
        pupil["needs"] = [Any]()
        try await run(pupil)
        #expect(try await needs() == [])
    }

    @Test func provisionsStaffAndEnrolmentsAreLinked() async throws {
        let h = try await ImportHarness.make("import-provision")
        defer { h.cleanUp() }
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        let lines = [
            ProtocolFixture.header(),
            ProtocolFixture.pupil(1, sen: "K"),
            ProtocolFixture.line(["type": "staff", "school_urn": ProtocolFixture.school, "staff_id": "T1", "name": "Ms Teacher", "role": "TA", "hourly_cost": 18.5]),
            ProtocolFixture.line([
                "type": "provision", "school_urn": ProtocolFixture.school, "provision_id": "P1", "name": "Reading catch-up",
                "area_of_need": "CL", "wave": 2, "priority": "must", "delivery": "group", "staff_ids": ["T1", "T9"],
                "group_size": 4, "sessions_per_week": 3, "minutes_per_session": 30, "start_date": "2025-09-08",
                "end_date": "2025-12-12", "outcome": ["instrument": "Salford", "subject": "reading", "measure": "age_months", "target_gain": 6],
            ]),
            ProtocolFixture.line([
                "type": "enrolment", "school_urn": ProtocolFixture.school, "provision_id": "P1", "upn": ProtocolFixture.upn(1),
                "start_date": "2025-09-08", "status": "active", "entry": ["value": 74, "date": "2025-09-05"],
            ]),
            ProtocolFixture.end(["pupil": 1, "staff": 1, "provision": 1, "enrolment": 1]),
        ]
        let summary = try await h.pipeline.run(h.request(plugin, source: try h.source(lines)))
        #expect(summary.status == .succeeded, "\(summary.failure ?? "")")
        #expect(try await h.query("SELECT count(*) FROM provision_staff").scalar(as: Int.self) == 1)
        let warning = try await h.query(
            "SELECT reason FROM rejected_records WHERE import_run_id = $1 AND severity = 'warning'", summary.runID).scalar(as: String.self)
        #expect(warning.contains("staff_ids names a staff member"))
        let enrolment = try #require(try await h.query(
            "SELECT e.entry_value::float8 AS entry, p.outcome_measure FROM enrolments e JOIN provisions p ON p.id = e.provision_id").singleRow())
        #expect(try enrolment.decode("entry", as: Double.self) == 74)
        #expect(try enrolment.decode("outcome_measure", as: String.self) == "age_months")
        #expect(try await h.query("SELECT count(*) FROM pupil_needs").scalar(as: Int.self) == 1)
    }

    @Test func aMissingSourceFailsClearly() async throws {
        let h = try await ImportHarness.make("import-missing")
        defer { h.cleanUp() }
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        // Forced, the input is hashed beside the run, and its absence still stops the run
        // before the plugin starts (whose own complaint would name no source).
        for force in [false, true] {
            let summary = try await h.pipeline.run(h.request(plugin, source: h.folder + "/nope.ndjson", force: force))
            #expect(summary.status == .failed)
            #expect(summary.inputRejected)
            #expect(summary.failure?.contains("the source \(h.folder)/nope.ndjson does not exist") == true, "\(summary.failure ?? "")")
            #expect(summary.stderr.isEmpty, "the plugin did not run: \(summary.stderr)")
        }
    }

    /// A source's first run hashes its input while the plugin runs; what the hash would refuse
    /// is still refused before the plugin starts, and nothing is written.
    @Test func aFIFOInAFirstRunsSourceIsRefusedBeforeThePluginStarts() async throws {
        let h = try await ImportHarness.make("import-fifo")
        defer { h.cleanUp() }
        let plugin = try TestPlugin.make(in: h.folder, body: #"echo started >&2; cat "$2"/*.ndjson"#)
        try FileManager.default.createDirectory(atPath: h.folder + "/drop", withIntermediateDirectories: true)
        _ = try h.source(ProtocolFixture.run(pupils: 3), name: "drop/a.ndjson")
        #expect(mkfifo(h.folder + "/drop/b.ndjson", 0o600) == 0)
        let before = try await h.fingerprint()
        // Had the plugin started, its stderr would say so; the limit only bounds a plugin
        // stuck opening the FIFO.
        let summary = try await h.pipeline.run(h.request(plugin, source: h.folder + "/drop", timeout: .seconds(60)))
        #expect(summary.status == .failed)
        #expect(summary.inputRejected)
        #expect(summary.failure?.contains("drop/b.ndjson is a FIFO, not a regular file") == true, "\(summary.failure ?? "")")
        #expect(summary.stderr.isEmpty, "the plugin ran: \(summary.stderr)")
        #expect(try await h.fingerprint() == before)
    }

    /// A run naming more tests than any school's exports do fails with nothing written, and
    /// lists no more tests than the limit.
    @Test func aRunNamingTooManyTestsFailsAndWritesNothing() async throws {
        let h = try await ImportHarness.make("import-too-many-tests")
        defer { h.cleanUp() }
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        let count = ResultTests.limit + 1
        var lines = [ProtocolFixture.header(), ProtocolFixture.pupil(1)]
        for n in 1...count {
            lines.append(ProtocolFixture.assessment(1, value: 80).replacingOccurrences(of: #""Salford""#, with: #""Test \#(n)""#))
        }
        lines.append(ProtocolFixture.end(["pupil": 1, "assessment": count]))
        let before = try await h.fingerprint()
        let summary = try await h.pipeline.run(h.request(plugin, source: try h.source(lines)))
        #expect(summary.status == .failed)
        #expect(summary.inputRejected)
        #expect(summary.failure?.contains("the results name more than \(ResultTests.limit) different tests") == true, "\(summary.failure ?? "")")
        #expect(try await h.fingerprint() == before)
        #expect(try await h.query("SELECT count(*) FROM result_tests").scalar(as: Int.self) == ResultTests.limit)
    }

    /// Statistics are refreshed after a run that changed a table by a tenth or more, and
    /// left to autovacuum after a smaller one.
    @Test func statisticsFollowLargeChangesOnly() async throws {
        let h = try await ImportHarness.make("import-statistics")
        defer { h.cleanUp() }
        let plugin = try TestPlugin.make(in: h.folder, body: #"cat "$2""#)
        func results(on dates: [String]) throws -> String {
            var lines = [ProtocolFixture.header(kind: "delta")]
            for n in 1...200 { lines.append(ProtocolFixture.pupil(n)) }
            for date in dates { for n in 1...200 { lines.append(ProtocolFixture.assessment(n, value: 80, date: date)) } }
            lines.append(ProtocolFixture.end(["pupil": 200, "assessment": 200 * dates.count]))
            return try h.source(lines)
        }
        func estimated() async throws -> Double {
            try await h.query("SELECT reltuples::float8 FROM pg_class WHERE relname = 'results' AND relkind = 'r'").scalar(as: Double.self)
        }
        #expect(try await estimated() < 0, "never analysed")
        // Autovacuum's own analysis would move the estimate at a moment of its choosing.
        _ = try await h.query("ALTER TABLE results SET (autovacuum_enabled = false)")
        let days = (1...12).flatMap { month in (1...28).map { String(format: "2025-%02d-%02d", month, $0) } }
        let first = try await h.pipeline.run(h.request(plugin, source: try results(on: Array(days[0..<75]))))
        #expect(first.status == .succeeded)
        #expect(try await estimated() == 15000, "a first import of 15,000 results is analysed")
        // 1,200 more (8%): below autovacuum's tenth, so the estimate stays until it runs.
        let small = try await h.pipeline.run(h.request(plugin, source: try results(on: Array(days[75..<81]))))
        #expect(small.merge.inserted["assessments"] == 1200)
        #expect(try await estimated() == 15000)
        // 3,000 more (19%): analysed again.
        let large = try await h.pipeline.run(h.request(plugin, source: try results(on: Array(days[81..<96]))))
        #expect(large.merge.inserted["assessments"] == 3000)
        #expect(try await estimated() == 19200)
    }
}
