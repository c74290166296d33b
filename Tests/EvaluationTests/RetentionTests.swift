import Foundation
import Postgres
import ProvisionConfig
@testable import ProvisionEvaluation
import ProvisionModel
import ProvisionTestSupport
import Testing

/// What `[retention]` lets go: old evaluation runs with their results (never what the
/// console, the reports and the next evaluation read, nor a run an evaluation is reusing),
/// the text of old sent mail and the rejected records of old import runs.
@Suite("retention")
struct RetentionTests {
    static let asOf = SchoolDate(iso: "2026-11-29")!

    func runs(_ db: PostgresConnection) async throws -> [Int64] {
        try await db.query("SELECT id FROM evaluation_runs ORDER BY id").rows.map { try $0.decode("id", as: Int64.self) }
    }

    func count(_ db: PostgresConnection, _ table: String, run: Int64) async throws -> Int {
        try await db.query("SELECT count(*) AS n FROM \(table) WHERE evaluation_run_id = $1", run).scalar(as: Int.self)
    }

    @Test func oldRunsGoButTheLatestOfTheTrustAndOfEachSchoolStay() async throws {
        let trust = try await GeneratedTrust.imported("history", pupils: 600, schools: 2, seed: 6)
        defer { trust.remove() }
        let db = try await PostgresConnection.connect(trust.url)
        let evaluator = Evaluator(settings: .init())
        let schools = try await db.query("SELECT id, urn FROM schools ORDER BY id").rows.map {
            (id: try $0.decode("id", as: Int64.self), urn: try $0.decode("urn", as: String.self))
        }
        #expect(schools.count == 2)
        let before = try await runs(db)

        // The trust, then the first school alone, then the trust again (both schools carried
        // over: the first from its own run, the second from the first trust run), then the
        // second school alone.
        let trustRun = try await evaluator.run(db, asOf: Self.asOf, full: true).runID
        let firstSchoolRun = try await evaluator.run(db, school: schools[0].urn, asOf: Self.asOf, full: true).runID
        let latestTrust = try await evaluator.run(db, asOf: Self.asOf)
        #expect((latestTrust.schoolsEvaluated, latestTrust.schoolsUnchanged) == (0, 2))
        let secondSchoolRun = try await evaluator.run(db, school: schools[1].urn, asOf: Self.asOf, full: true).runID
        let reusedFromOldRun = try await db.query(
            "SELECT reused_from FROM evaluation_run_schools WHERE evaluation_run_id = $1 AND school_id = $2",
            latestTrust.runID, schools[1].id
        ).scalar(as: Int64?.self)
        #expect(reusedFromOldRun == trustRun)

        // Every run is 100 days old.
        try await db.execute("UPDATE evaluation_runs SET started_at = started_at - interval '100 days'")
        // The runs from the trust's import and the first trust run are read by nothing: the
        // trust's latest run covers both schools, and each school has a later run of its own.
        let earlier = before + [trustRun]
        var expected = EvaluationHistory.Pruned(runs: earlier.count)
        for run in earlier {
            expected.flags += try await count(db, "evaluation_flags", run: run)
            expected.enrolmentOutcomes += try await count(db, "enrolment_outcomes", run: run)
        }
        #expect(expected.flags > 100, "the trust raises flags (\(expected.flags))")
        #expect(expected.enrolmentOutcomes > 10, "the trust has outcomes (\(expected.enrolmentOutcomes))")
        let keptPicture = try await runPicture(db, run: latestTrust.runID)

        // Runs younger than the limit, or a limit of 0, delete nothing.
        #expect(try await EvaluationHistory.prune(db, keepDays: 101) == .init())
        #expect(try await EvaluationHistory.prune(db, keepDays: 0) == .init())
        #expect(try await runs(db) == before + [trustRun, firstSchoolRun, latestTrust.runID, secondSchoolRun])

        // One run per transaction, so the deletion takes several.
        #expect(try await EvaluationHistory.prune(db, keepDays: 90, batchSize: 1) == expected)
        #expect(try await runs(db) == [firstSchoolRun, latestTrust.runID, secondSchoolRun])
        for run in earlier {
            #expect(try await count(db, "evaluation_flags", run: run) == 0)
            #expect(try await count(db, "enrolment_outcomes", run: run) == 0)
            #expect(try await count(db, "provision_outcomes", run: run) == 0)
            #expect(try await count(db, "evaluation_run_schools", run: run) == 0)
        }
        // The kept run still holds its whole picture; the run its copy came from is gone.
        #expect(try await runPicture(db, run: latestTrust.runID) == keptPicture)
        #expect(try await db.query(
            "SELECT reused_from FROM evaluation_run_schools WHERE evaluation_run_id = $1 AND school_id = $2",
            latestTrust.runID, schools[1].id
        ).scalar(as: Int64?.self) == nil)

        // The next evaluation still carries both schools over, with the same results.
        let next = try await evaluator.run(db, asOf: Self.asOf)
        #expect((next.schoolsEvaluated, next.schoolsUnchanged) == (0, 2))
        #expect(try await runPicture(db, run: next.runID) == keptPicture)

        // `provisiond --once` (as the daemon after a trust evaluation) deletes what has aged.
        try await db.execute("UPDATE evaluation_runs SET started_at = started_at - interval '100 days'")
        let once = try await TestProcess.run(TestProcess.executable("provisiond"), ["--config", trust.config, "--once"])
        #expect(once.exitCode == 0, "\(once.standardError)")
        #expect(once.standardOutput.contains("Retention: deleted 2 evaluation run(s)"), "\(once.standardOutput)")
        let remaining = try await runs(db)
        #expect(remaining.count == 3)
        #expect(Array(remaining.prefix(2)) == [firstSchoolRun, secondSchoolRun])
        await db.close()
    }

    /// An evaluation that started by reusing a run (its schools unchanged) holds it: a run
    /// that another evaluation made old meanwhile is deleted only once the first has finished.
    @Test func aRunBeingReusedIsDeletedOnlyAfterTheEvaluationReusingItEnds() async throws {
        let trust = try await GeneratedTrust.imported("historylock", pupils: 300, schools: 2, seed: 7)
        defer { trust.remove() }
        let reusing = try await PostgresConnection.connect(trust.url)
        let other = try await PostgresConnection.connect(trust.url)
        let pruning = try await PostgresConnection.connect(trust.url)
        let settings = Configuration.Evaluation()
        let first = try await Evaluator(settings: settings).run(other, asOf: Self.asOf, full: true).runID

        // An evaluation decides to reuse the first run for both schools...
        try await reusing.begin()
        let scope = try await SchoolScope.decide(
            reusing, school: nil, asOf: Self.asOf, fingerprint: settings.fingerprint, full: false)
        #expect(scope.unchanged.map { $0.previous?.run } == [first, first])
        // ...while another evaluates everything again, so the first run is no longer the latest.
        _ = try await Evaluator(settings: settings).run(other, asOf: Self.asOf, full: true)
        try await other.execute("UPDATE evaluation_runs SET started_at = started_at - interval '100 days' WHERE id = $1", first)

        // Pruning waits for the evaluation holding the run (here it gives up after its lock
        // timeout, and the run is still there).
        let flags = try await count(other, "evaluation_flags", run: first)
        try await pruning.execute("SET lock_timeout = '200ms'")
        let refused = await #expect(throws: PostgresError.self) { try await EvaluationHistory.prune(pruning, keepDays: 90) }
        #expect(refused?.sqlState == "55P03", "lock_not_available: \(String(describing: refused))")
        #expect(try await runs(other).contains(first))
        #expect(try await count(other, "evaluation_flags", run: first) == flags)

        try await reusing.commit()
        #expect(try await EvaluationHistory.prune(pruning, keepDays: 90).runs == 1)
        #expect(try await runs(other).contains(first) == false)
        await reusing.close()
        await other.close()
        await pruning.close()
    }

    /// `provisionctl db prune` applies all of `[retention]`: old evaluation runs, the text of
    /// old sent mail (digests name pupils), the rejected records of old import runs.
    @Test func theCommandAppliesEveryRetentionSetting() async throws {
        let trust = try await GeneratedTrust.imported("retention", pupils: 300, schools: 2, seed: 8)
        defer { trust.remove() }
        let db = try await PostgresConnection.connect(trust.url)
        let evaluator = Evaluator(settings: .init())
        let earlier = try await runs(db) + [try await evaluator.run(db, asOf: Self.asOf, full: true).runID]
        let latest = try await evaluator.run(db, asOf: Self.asOf, full: true).runID
        var flags = 0
        var outcomes = 0
        for run in earlier {
            flags += try await count(db, "evaluation_flags", run: run)
            outcomes += try await count(db, "enrolment_outcomes", run: run)
        }
        try await db.execute("UPDATE evaluation_runs SET started_at = started_at - interval '100 days'")

        // The digests `provisiond --once` sent, 40 days ago; and one message still waiting.
        let sent = try await db.query("SELECT count(*) AS n FROM mail_outbox WHERE state = 'sent'").scalar(as: Int.self)
        #expect(sent >= 1, "the import sent digests")
        try await db.execute(
            "UPDATE mail_outbox SET created_at = created_at - interval '40 days', sent_at = sent_at - interval '40 days'")
        try await db.execute(
            """
            INSERT INTO mail_outbox (message_id, recipients, subject, message, created_at)
            VALUES ('<waiting@test>', '{senco@school.example}', 'Waiting', convert_to('still to send', 'UTF8'), now() - interval '40 days')
            """)
        // Two runs of an old source 100 days ago, the first with two rejected records; the
        // latest run of another source with one.
        func oldRun(_ source: String) async throws -> Int64 {
            try await db.query(
                """
                INSERT INTO import_runs (source, plugin, plugin_version, schools, status, started_at, finished_at)
                VALUES ($1, 'ctf', '1.0.0', '{}', 'failed', now() - interval '100 days', now() - interval '100 days') RETURNING id
                """, source
            ).scalar(as: Int64.self)
        }
        func reject(_ run: Int64, line: Int) async throws {
            try await db.execute(
                "INSERT INTO rejected_records (import_run_id, line, record_type, severity, reason) VALUES ($1, $2, 'pupil', 'rejected', 'test')",
                run, line)
        }
        let superseded = try await oldRun("retired-source")
        try await reject(superseded, line: 1)
        try await reject(superseded, line: 2)
        _ = try await oldRun("retired-source")
        let latestOfOther = try await oldRun("other-source")
        try await reject(latestOfOther, line: 7)

        try (try String(contentsOfFile: trust.config, encoding: .utf8) + "\n[retention]\nevaluation_runs_days = 60\n")
            .write(toFile: trust.config, atomically: true, encoding: .utf8)
        let prune = try await TestProcess.run(TestProcess.executable("provisionctl"), ["--config", trust.config, "db", "prune"])
        #expect(prune.exitCode == 0, "\(prune.standardError)")
        #expect(prune.standardOutput.contains("evaluation runs 60, sent mail 30, rejected records 90."), "\(prune.standardOutput)")
        #expect(prune.standardOutput.contains(
            "Done: deleted \(earlier.count) evaluation run(s) (\(flags) flag(s), \(outcomes) enrolment outcome(s)) and 2 rejected "
                + "record(s) of old imports; erased the text of \(sent) sent message(s)."), "\(prune.standardOutput)")

        #expect(try await runs(db) == [latest])
        let texts = try await db.query(
            "SELECT state, subject, octet_length(message) AS bytes FROM mail_outbox ORDER BY id").rows.map {
                (try $0.decode("state", as: String.self), try $0.decode("subject", as: String.self), try $0.decode("bytes", as: Int.self))
            }
        #expect(texts.count == sent + 1)
        for (state, subject, bytes) in texts {
            #expect(!subject.isEmpty, "who was sent what subject stays")
            #expect(bytes == (state == "pending" ? 13 : 0), "\(state) \(subject): \(bytes) bytes")
        }
        let rejections = try await db.query("SELECT import_run_id FROM rejected_records ORDER BY line").rows.map {
            try $0.decode("import_run_id", as: Int64.self)
        }
        #expect(rejections == [latestOfOther])

        let again = try await TestProcess.run(TestProcess.executable("provisionctl"), ["--config", trust.config, "db", "prune"])
        #expect(again.standardOutput.contains("Nothing was old enough: nothing deleted."), "\(again.standardOutput)")
        await db.close()
    }
}
