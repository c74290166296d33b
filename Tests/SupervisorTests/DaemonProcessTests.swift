import Foundation
import Postgres
@testable import ProvisionImport
import ProvisionStore
import ProvisionTestSupport
import Testing

/// The daemon as a trust runs it: real processes, real signals, a real PostgreSQL.
@Suite("provisiond supervision")
struct DaemonProcessTests {
    /// Whether the slow plugin of `folder` is asleep past its gate: its process, found in the
    /// host's /proc by its command and its `MARKS` (the sandbox lets it write nothing to say so).
    static func slowPluginIsAsleep(_ folder: String) -> Bool {
        let command = Array("sleep\u{0}120\u{0}".utf8), marks = Array("MARKS=\(folder)\u{0}".utf8)
        let processes = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return processes.contains { pid in
            guard pid.allSatisfy(\.isNumber), let line = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
                Array(line) == command, let environment = FileManager.default.contents(atPath: "/proc/\(pid)/environ")
            else { return false }
            return Array(environment).split(separator: 0).contains { Array($0) + [0] == marks }
        }
    }

    /// A source whose plugin hangs after three lines unless `folder/fast` exists when it
    /// starts. The sandbox lets the plugin read that folder (it is named in the source's env)
    /// but write nothing outside its scratch space, so the test, not the plugin, flips it,
    /// once the slow run can no longer see it.
    static func slowUntilFast(_ folder: String) -> DaemonSetup.Source {
        .init(
            name: "slow",
            body: """
                if [ -f "$MARKS/fast" ]; then cat "$2"; exit 0; fi
                head -n 3 "$2"
                exec sleep 120
                """,
            environment: ["MARKS": folder])
    }

    /// Waits (bounded) until the import's connection is inside its COPY into staging: the
    /// import is then truly under way, whatever it has sent so far.
    static func importIsCopying(_ setup: DaemonSetup) async throws -> Bool {
        let watch = try await setup.connect()
        let copying = try await eventually(seconds: 120) {
            try await watch.count(
                """
                SELECT count(*) FROM pg_stat_activity
                 WHERE datname = current_database() AND application_name = 'provision-import'
                   AND query LIKE 'COPY import_staging%'
                """) == 1
        }
        await watch.close()
        return copying
    }

    static func makeFast(_ folder: String) {
        _ = FileManager.default.createFile(atPath: folder + "/fast", contents: nil)
    }

    static func mailFiles(_ setup: DaemonSetup) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: setup.folder + "/state/mail/new")) ?? []
    }

    @Test func sigtermDuringAnImportWritesNothingAndExitsCleanly() async throws {
        let url = try await TestPostgres.shared.freshDatabase("daemon-term")
        let folder = try TestProcess.temporaryDirectory("daemon-term-plugin")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let setup = try DaemonSetup.make("daemon-term", url: url, sources: [Self.slowUntilFast(folder)])
        defer { setup.remove() }
        let daemon = try RunningDaemon(config: setup.config)
        #expect(await daemon.waitFor("msg=running"))
        _ = try await setup.provisionctl(["enqueue", "--source", "slow"])
        #expect(await daemon.waitFor("msg=\"import started\""))
        #expect(try await Self.importIsCopying(setup), "the import's COPY has begun")
        kill(daemon.pid, SIGTERM)
        let status = await daemon.waitForExit(seconds: 120)
        #expect(status == 0, "\(daemon.log)")
        #expect(daemon.log.contains("job interrupted by shutdown and put back"))

        let db = try await setup.connect()
        #expect(try await db.count("SELECT count(*) FROM pupils") == 0, "nothing half-written")
        let run = try #require(try await db.query("SELECT status, failure FROM import_runs").singleRow())
        #expect(try run.decode("status", as: String.self) == "failed")
        #expect(try run.decode("failure", as: String.self).contains("shutting down"))
        let job = try #require(try await db.query("SELECT state, attempt FROM jobs").singleRow())
        #expect(try job.decode("state", as: String.self) == "available", "the next start runs it again")
        #expect(try job.decode("attempt", as: Int.self) == 0, "an interrupted attempt does not count")
        await db.close()
    }

    @Test func killNineMidImportThenRestartRescuesTheJobWithoutDuplicates() async throws {
        let url = try await TestPostgres.shared.freshDatabase("daemon-kill")
        let folder = try TestProcess.temporaryDirectory("daemon-kill-plugin")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let setup = try DaemonSetup.make("daemon-kill", url: url, sources: [Self.slowUntilFast(folder)])
        defer { setup.remove() }
        let first = try RunningDaemon(config: setup.config)
        #expect(await first.waitFor("msg=running"))
        _ = try await setup.provisionctl(["enqueue", "--source", "slow"])
        #expect(await first.waitFor("msg=\"import started\""))
        #expect(try await Self.importIsCopying(setup), "the import's COPY has begun")
        kill(first.pid, SIGKILL)
        _ = await first.waitForExit()
        Self.makeFast(folder)

        let second = try RunningDaemon(config: setup.config)
        #expect(await second.waitFor("rescued a job whose worker died"), "\(second.log)")
        #expect(await second.waitFor("msg=\"evaluation finished\" alerts_opened"), "\(second.log)")
        #expect(await second.waitFor("msg=\"mail delivered\""), "\(second.log)")
        // The SENCO's digest follows the school's evaluation; the lead's, the trust-wide one.
        let watch = try await setup.connect()
        let both = try await eventually { try await watch.count("SELECT count(*) FROM mail_outbox WHERE state = 'sent'") == 2 }
        await watch.close()
        #expect(both, "\(second.log)")

        let db = try await setup.connect()
        let runs = try await db.query("SELECT status, coalesce(failure, '') AS failure FROM import_runs ORDER BY id").rows
        #expect(try runs.map { try $0.decode("status", as: String.self) } == ["failed", "succeeded"])
        #expect(try runs.first?.decode("failure", as: String.self).contains("rescued") == true)
        #expect(try await db.count("SELECT count(*) FROM pupils") == 3, "each pupil once")
        #expect(try await db.count("SELECT count(*) FROM jobs WHERE kind = 'import' AND state = 'completed' AND attempt = 2") == 1)
        #expect(try await db.count("SELECT count(*) FROM evaluation_runs WHERE school_id IS NOT NULL") == 1)
        #expect(try await db.count("SELECT count(*) FROM mail_outbox WHERE state = 'sent'") == 2, "one digest to the SENCO, one to the lead")
        #expect(Self.mailFiles(setup).count == 2)
        #expect(!second.log.contains("level=error"), "\(second.log)")
        #expect(await second.stop() == 0)
        for n in 1...3 {
            #expect(!first.log.contains(DaemonSetup.upn(n)) && !second.log.contains(DaemonSetup.upn(n)), "no UPN in the log")
            #expect(!second.log.contains("Surname\(n)"), "no pupil name in the log")
        }
        await db.close()
    }

    @Test func aWorkerThatLosesItsQueueConnectionStopsTheJobInsteadOfRunningItTwice() async throws {
        let url = try await TestPostgres.shared.freshDatabase("daemon-lease")
        let folder = try TestProcess.temporaryDirectory("daemon-lease-plugin")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let setup = try DaemonSetup.make(
            "daemon-lease", url: url, sources: [Self.slowUntilFast(folder)],
            daemon: "rescue_after_seconds = 10\nworkers = 1")
        defer { setup.remove() }
        let daemon = try RunningDaemon(config: setup.config)
        #expect(await daemon.waitFor("msg=running"))
        _ = try await setup.provisionctl(["enqueue", "--source", "slow"])
        #expect(await daemon.waitFor("msg=\"import started\""))
        // Once the first attempt is past its gate, open it: the retry, however soon it comes,
        // finds the plugin fast.
        #expect(await eventually { Self.slowPluginIsAsleep(folder) }, "\(daemon.log)")
        Self.makeFast(folder)
        // Cut only the worker's queue connection; the import's own connections live on.
        let db = try await setup.connect()
        let cut = try await db.count(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'provisiond %/w0') t")
        #expect(cut == 1)
        #expect(await daemon.waitFor("its lease could not be renewed", seconds: 120), "\(daemon.log)")
        #expect(await daemon.waitFor("msg=\"job completed\" job=1 kind=import", seconds: 120), "\(daemon.log)")
        let runs = try await db.query("SELECT status, coalesce(failure, '') AS failure FROM import_runs ORDER BY id").rows.map {
            "\(try $0.decode("status", as: String.self)): \(try $0.decode("failure", as: String.self))"
        }
        // A retry that comes while the stopped run still holds the source is refused and waits
        // (it is not run beside it); on a loaded machine that leaves a refused run between.
        let worked = runs.filter { !$0.contains("did not start") }
        #expect(worked.map { $0.prefix { $0 != ":" } } == ["failed", "succeeded"], "the first run was stopped, not left running beside the second: \(runs)")
        #expect(try await db.count("SELECT count(*) FROM pupils") == 3)
        #expect(await daemon.stop() == 0)
        await db.close()
    }

    @Test func anImportJobWaitsForABusySourceWithoutUsingAnAttempt() async throws {
        let url = try await TestPostgres.shared.freshDatabase("daemon-busy")
        let setup = try DaemonSetup.make("daemon-busy", url: url, sources: [.init(name: "source")])
        defer { setup.remove() }
        // Someone else's import of the source: its lock, held by this connection.
        let holder = try await setup.connect()
        _ = try await holder.query("SELECT pg_advisory_lock($1, hashtext('source'))", ImportPipeline.sourceLockClass)
        let daemon = try RunningDaemon(config: setup.config)
        #expect(await daemon.waitFor("msg=running"))
        _ = try await setup.provisionctl(["enqueue", "--source", "source"])
        #expect(await daemon.waitFor("another import of source source is running"), "\(daemon.log)")
        let db = try await setup.connect()
        // Postponed for ten seconds, its attempt given back; on a busy machine a worker may
        // already have claimed it again (and will postpone it again while the lock is held).
        #expect(try await db.count(
            """
            SELECT count(*) FROM jobs
             WHERE kind = 'import' AND (state = 'available' AND attempt = 0 OR state = 'running' AND attempt = 1)
            """) == 1, "postponed, its attempt given back")
        _ = try await holder.query("SELECT pg_advisory_unlock($1, hashtext('source'))", ImportPipeline.sourceLockClass)
        #expect(await daemon.waitFor("msg=\"job completed\" job=1 kind=import"), "\(daemon.log)")
        #expect(try await db.count("SELECT count(*) FROM jobs WHERE kind = 'import' AND state = 'completed' AND attempt = 1") == 1)
        let runs = try await db.query("SELECT status FROM import_runs ORDER BY id").rows.map { try $0.decode("status", as: String.self) }
        #expect(runs.first == "failed" && runs.last == "succeeded" && runs.filter { $0 == "succeeded" }.count == 1, "\(runs)")
        #expect(!daemon.log.contains("job failed"), "\(daemon.log)")
        #expect(await daemon.stop() == 0)
        await db.close()
        await holder.close()
    }

    @Test func schoolEvaluationsDueTogetherAreDoneByOneTrustEvaluation() async throws {
        let url = try await TestPostgres.shared.freshDatabase("daemon-together")
        let setup = try DaemonSetup.make(
            "daemon-together", url: url,
            sources: [DaemonSetup.Source(name: "alpha"), DaemonSetup.Source(name: "beta", firstPupil: 11, school: "139002")],
            daemon: "workers = 1")
        defer { setup.remove() }
        // Both schools imported and both evaluations waiting as the worker comes to them: as
        // when a night's imports end.
        for source in ["alpha", "beta"] {
            let imported = try await setup.provisionctl(["import", "--source", source, "--no-evaluate"])
            #expect(imported.exitCode == 0, "\(imported.standardError)")
        }
        let queued = try await setup.provisionctl(["enqueue", "--school", "139001", "--school", "139002"])
        #expect(queued.standardOutput.components(separatedBy: "queued as job").count - 1 == 2, "\(queued.standardOutput)")
        let daemon = try RunningDaemon(config: setup.config)
        let db = try await setup.connect()
        let done = try await eventually {
            try await db.count("SELECT count(*) FROM jobs WHERE kind = 'evaluate' AND state = 'completed'") == 2
        }
        #expect(done, "\(daemon.log)")
        // One trust run evaluated both schools (neither carried over); neither was evaluated alone.
        #expect(try await db.count("SELECT count(*) FROM evaluation_runs") == 1)
        #expect(try await db.count(
            """
            SELECT count(*) FROM evaluation_run_schools rs JOIN evaluation_runs r ON r.id = rs.evaluation_run_id
             WHERE r.school_id IS NULL AND r.status = 'succeeded' AND rs.reused_from IS NULL
            """) == 2)
        #expect(try await db.count("SELECT count(*) FROM jobs WHERE state <> 'completed'") == 0, "no job left waiting or held")
        #expect(daemon.log.contains("jobs_done_with_it=1"), "\(daemon.log)")
        // Each school's SENCO hears of the alerts the run opened at their school.
        let mailed = try await eventually {
            try await db.count(
                """
                SELECT count(DISTINCT r) FROM mail_outbox, unnest(recipients) AS r
                 WHERE state = 'sent' AND r IN ('senco@fenland.example', 'senco@139002.example')
                """) == 2
        }
        #expect(mailed, "\(daemon.log)")

        // An evaluation due alone is its school's own.
        _ = try await setup.provisionctl(["enqueue", "--school", "139002"])
        let alone = try await eventually {
            try await db.count("SELECT count(*) FROM evaluation_runs r JOIN schools s ON s.id = r.school_id WHERE s.urn = '139002'") == 1
        }
        #expect(alone, "\(daemon.log)")
        #expect(!daemon.log.contains("level=error"), "\(daemon.log)")
        #expect(await daemon.stop() == 0)
        await db.close()
    }

    @Test func anImportThatChangedNothingOfAnEvaluatedSchoolQueuesNoEvaluation() async throws {
        let url = try await TestPostgres.shared.freshDatabase("daemon-nothing-new")
        let setup = try DaemonSetup.make("daemon-nothing-new", url: url, sources: [DaemonSetup.Source(name: "alpha")])
        defer { setup.remove() }
        let first = try await setup.provisionctl(["import", "--source", "alpha"])
        #expect(first.standardOutput.contains("Evaluation run 1 of school 139001"), "\(first.standardOutput)")
        // The same records in another order: a new file, the same data.
        let export = setup.folder + "/data/alpha.ndjson"
        var lines = try String(contentsOfFile: export, encoding: .utf8).split(separator: "\n").map(String.init)
        lines[1...3].reverse()
        try (lines.joined(separator: "\n") + "\n").write(toFile: export, atomically: true, encoding: .utf8)
        _ = try await setup.provisionctl(["enqueue", "--source", "alpha"])
        let daemon = try RunningDaemon(config: setup.config)
        #expect(await daemon.waitFor("msg=\"job completed\" job=1 kind=import"), "\(daemon.log)")
        #expect(daemon.log.contains("msg=\"school not evaluated again: its data is as its evaluation saw it\" evaluation_run=1 import_run=2"), "\(daemon.log)")
        let db = try await setup.connect()
        #expect(try await db.count("SELECT count(*) FROM import_runs WHERE status = 'succeeded'") == 2)
        #expect(try await db.count("SELECT count(*) FROM jobs WHERE kind = 'evaluate'") == 0)

        // New data: the school is evaluated again.
        try DaemonSetup.records(source: .init(name: "alpha", pupils: 4)).write(toFile: export, atomically: true, encoding: .utf8)
        _ = try await setup.provisionctl(["enqueue", "--source", "alpha"])
        #expect(await daemon.waitFor("msg=\"evaluation finished\""), "\(daemon.log)")
        #expect(try await db.count("SELECT count(*) FROM evaluation_runs WHERE school_id IS NOT NULL AND status = 'succeeded'") == 2)
        #expect(await daemon.stop() == 0)
        await db.close()
    }

    @Test func twoDaemonsOnOneDatabaseShareTheWorkAndRunEachJobOnce() async throws {
        let url = try await TestPostgres.shared.freshDatabase("daemon-pair")
        // Three schools of two sources each: a school's two imports run one after the other,
        // and the daemons share the schools.
        let sources = (0..<6).map {
            DaemonSetup.Source(
                name: "source-\($0)", body: "sleep 1\ncat \"$2\"", firstPupil: 1 + $0 * 10, school: ["139001", "139002", "139003"][$0 % 3])
        }
        let setup = try DaemonSetup.make("daemon-pair", url: url, sources: sources)
        defer { setup.remove() }
        let one = try RunningDaemon(config: setup.config)
        let two = try RunningDaemon(config: setup.config)
        #expect(await one.waitFor("msg=running"))
        #expect(await two.waitFor("msg=running"))
        let queued = try await setup.provisionctl(["enqueue", "--all-sources"])
        #expect(queued.standardOutput.components(separatedBy: "queued as job").count - 1 == 6)

        let db = try await setup.connect()
        let settled = try await eventually(seconds: 120) {
            let completed = try await db.count("SELECT count(*) FROM jobs WHERE kind = 'import' AND state = 'completed'")
            let pending = try await db.count("SELECT count(*) FROM jobs WHERE state IN ('available', 'running')")
            return completed == 6 && pending == 0
        }
        #expect(settled, "\(one.log)\n\(two.log)")
        #expect(try await db.count("SELECT count(*) FROM import_runs") == 6, "each import ran once")
        #expect(try await db.count("SELECT count(DISTINCT source) FROM import_runs WHERE status = 'succeeded'") == 6)
        #expect(try await db.count("SELECT count(*) FROM pupils") == 18)
        #expect(try await db.count("SELECT count(*) FROM evaluation_runs WHERE school_id IS NULL") >= 1, "the trust-wide evaluation followed")
        #expect(FileManager.default.fileExists(atPath: setup.folder + "/state/reports/139001"), "the school's reports were written")
        let daemons = try await db.count(
            "SELECT count(DISTINCT split_part(locked_by, '/', 2)) FROM jobs WHERE kind = 'import'")
        #expect(daemons == 2, "both daemons took imports")
        let overlapping = try await db.count(
            """
            SELECT count(*) FROM import_runs a JOIN import_runs b ON a.id < b.id AND a.schools && b.schools
             WHERE a.started_at < b.finished_at AND b.started_at < a.finished_at
            """)
        #expect(overlapping == 0, "no two imports of one school ran at once")
        #expect(try await db.count("SELECT count(*) FROM mail_outbox WHERE state <> 'sent'") == 0)
        let messages = try await db.count("SELECT count(*) FROM mail_outbox")
        #expect(Self.mailFiles(setup).count == messages, "each message delivered once")
        #expect(!one.log.contains("level=error") && !two.log.contains("level=error"), "\(one.log)\n\(two.log)")
        #expect(await one.stop() == 0)
        #expect(await two.stop() == 0)
        await db.close()
    }

    @Test func aPluginThatAlwaysCrashesIsBackedOffReportedAndHarmsNothingElse() async throws {
        let url = try await TestPostgres.shared.freshDatabase("daemon-crash")
        let setup = try DaemonSetup.make(
            "daemon-crash", url: url,
            sources: [
                .init(name: "broken", body: "echo 'cannot read the export' >&2\nexit 3"),
                .init(name: "good"),
            ])
        defer { setup.remove() }
        let daemon = try RunningDaemon(config: setup.config)
        #expect(await daemon.waitFor("msg=running"))
        _ = try await setup.provisionctl(["enqueue", "--all-sources"])
        #expect(await daemon.waitFor("job failed for the last time; giving up", seconds: 120), "\(daemon.log)")

        let db = try await setup.connect()
        let starts = try await db.query(
            "SELECT extract(epoch FROM started_at)::float8 AS at FROM import_runs WHERE source = 'broken' ORDER BY id"
        ).rows.map { try $0.decode("at", as: Double.self) }
        #expect(starts.count == 3, "max_attempts = 3")
        if starts.count == 3 {
            let gaps = [starts[1] - starts[0], starts[2] - starts[1]]
            // 1 s then 2 s, less up to a fifth for jitter; a gap can be longer (the worker was
            // busy with the other source), never shorter.
            #expect(gaps[0] >= 0.8 && gaps[1] >= 1.6, "backoff, not a tight loop: \(gaps)")
            // The waits the queue chose, as the daemon logged them: doubling.
            let retries = daemon.log.split(separator: "\n").filter { $0.contains("job failed; will retry") && $0.contains("source=broken") }
            #expect(retries.count == 2 && retries[0].contains("retry_in_seconds=1") && retries[1].contains("retry_in_seconds=2"), "\(retries)")
        }
        #expect(try await db.count("SELECT count(*) FROM import_runs WHERE source = 'good' AND status = 'succeeded'") == 1)
        #expect(try await db.count("SELECT count(*) FROM pupils") == 3)

        let status = try await setup.provisionctl(["status", "--json"])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(status.standardOutput.utf8)) as? [String: Any])
        let failed = try #require((json["jobs"] as? [String: Any])?["failed"] as? [[String: Any]])
        #expect(failed.count == 1)
        #expect(failed.first?["subject"] as? String == "broken")
        #expect((failed.first?["last_error"] as? String)?.contains("exited with status 3") == true)
        let text = try await setup.provisionctl(["status"])
        #expect(text.standardOutput.contains("FAILED   job"), "\(text.standardOutput)")

        // Still serving, and saying what happened. The good source's evaluation waits while
        // an import of its school runs or is due, so it may finish after the last retry.
        #expect(await daemon.waitFor("operations endpoint listening"))
        #expect(await daemon.waitFor("msg=\"evaluation finished\" alerts_opened"), "\(daemon.log)")
        let port = try #require(daemon.httpPort)
        // The address is logged as a URL an administrator can paste.
        #expect(daemon.log.contains("msg=\"operations endpoint listening\" address=http://127.0.0.1:\(port) "), "\(daemon.log)")
        let (healthCode, health) = try await httpGet(port: port, path: "/healthz")
        #expect(healthCode == 200)
        #expect(health.contains("\"database\":\"ok\""))
        let (metricsCode, metrics) = try await httpGet(port: port, path: "/metrics")
        #expect(metricsCode == 200)
        #expect(metrics.contains(#"provision_import_runs_total{source="broken",status="failed"} 3"#), "\(metrics)")
        #expect(metrics.contains(#"provision_import_records_total{source="good"} 3"#))
        #expect(metrics.contains("provision_jobs_failed 1"))
        #expect(metrics.contains("provision_outbox_pending "))
        #expect(metrics.contains("provision_job_lag_seconds "))
        #expect(metrics.contains("provision_evaluation_duration_seconds_count "))
        #expect(await daemon.stop() == 0)
        await db.close()
    }

    @Test func sighupReloadsAGoodConfigurationAndRefusesABadOne() async throws {
        let url = try await TestPostgres.shared.freshDatabase("daemon-hup")
        let setup = try DaemonSetup.make("daemon-hup", url: url, sources: [.init(name: "first")])
        defer { setup.remove() }
        let daemon = try RunningDaemon(config: setup.config)
        #expect(await daemon.waitFor("msg=running"))
        let good = try String(contentsOfFile: setup.config, encoding: .utf8)

        try (good + "\ntransprt = \"smtp\"\n").write(toFile: setup.config, atomically: true, encoding: .utf8)  // in [mail]
        kill(daemon.pid, SIGHUP)
        #expect(await daemon.waitFor("configuration not reloaded"))
        #expect(daemon.log.contains("transprt"), "the log names the bad key")
        #expect(daemon.process.isRunning)

        // A second source, added while the daemon runs.
        let second = try DaemonSetup.make("daemon-hup-2", url: url, sources: [.init(name: "second", firstPupil: 20)])
        defer { second.remove() }
        let added = good + """

            [[sources]]
            name = "second"
            plugin = "second"
            path = "\(second.folder)/data/second.ndjson"
            schools = ["139001"]
            """
        try added.replacingOccurrences(of: "dirs = [\"plugins\"]", with: "dirs = [\"plugins\", \"\(second.folder)/plugins\"]")
            .write(toFile: setup.config, atomically: true, encoding: .utf8)
        kill(daemon.pid, SIGHUP)
        #expect(await daemon.waitFor("msg=\"configuration reloaded\""))
        _ = try await setup.provisionctl(["enqueue", "--source", "second"])
        #expect(await daemon.waitFor("msg=\"job completed\" job=1 kind=import"), "\(daemon.log)")
        let db = try await setup.connect()
        #expect(try await db.count("SELECT count(*) FROM import_runs WHERE source = 'second' AND status = 'succeeded'") == 1)
        #expect(await daemon.stop() == 0)
        await db.close()
    }

    @Test func aSourceIsImportedWhenItsCronSlotComes() async throws {
        let url = try await TestPostgres.shared.freshDatabase("daemon-cron")
        let setup = try DaemonSetup.make("daemon-cron", url: url, sources: [.init(name: "nightly")])
        defer { setup.remove() }
        // Every minute, so the test sees a slot within one.
        let text = try String(contentsOfFile: setup.config, encoding: .utf8)
        try text.replacingOccurrences(of: "schools = [\"139001\"]\n", with: "schools = [\"139001\"]\nschedule = \"* * * * *\"\n")
            .write(toFile: setup.config, atomically: true, encoding: .utf8)
        let daemon = try RunningDaemon(config: setup.config)
        #expect(await daemon.waitFor("msg=running"))
        let status = try await setup.provisionctl(["status", "--json"])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(status.standardOutput.utf8)) as? [String: Any])
        let source = try #require((json["sources"] as? [[String: Any]])?.first)
        #expect(source["schedule"] as? String == "* * * * *")
        #expect(source["next_run"] is String)
        #expect(await daemon.waitFor("import queued by schedule", seconds: 120), "\(daemon.log)")
        #expect(await daemon.waitFor("msg=\"job completed\" job=1 kind=import"), "\(daemon.log)")
        let db = try await setup.connect()
        #expect(try await db.count("SELECT count(*) FROM import_runs WHERE source = 'nightly' AND status = 'succeeded'") == 1)
        #expect(try await db.count("SELECT count(*) FROM source_schedules WHERE last_slot IS NOT NULL") == 1)
        #expect(await daemon.stop() == 0)
        await db.close()
    }

    @Test func aWatchedExportIsImportedOnceWhenItHasStoppedChanging() async throws {
        let url = try await TestPostgres.shared.freshDatabase("daemon-watch")
        let setup = try DaemonSetup.make("daemon-watch", url: url, sources: [.init(name: "dropped")], daemon: "watch_settle_seconds = 6")
        defer { setup.remove() }
        let text = try String(contentsOfFile: setup.config, encoding: .utf8)
        try text.replacingOccurrences(of: "schools = [\"139001\"]\n", with: "schools = [\"139001\"]\nschedule = \"watch\"\n")
            .write(toFile: setup.config, atomically: true, encoding: .utf8)
        let daemon = try RunningDaemon(config: setup.config)
        #expect(await daemon.waitFor("msg=\"watching exports\" sources=1"), "\(daemon.log)")
        let export = setup.folder + "/data/dropped.ndjson"

        // The MIS replaces the export (written aside, renamed into place): imported at once.
        try DaemonSetup.records(source: .init(name: "dropped", pupils: 5)).write(toFile: export, atomically: true, encoding: .utf8)
        #expect(await daemon.waitFor("msg=\"import queued by watch\""), "\(daemon.log)")
        #expect(await daemon.waitFor("msg=\"job completed\" job=1 kind=import"), "\(daemon.log)")
        let db = try await setup.connect()
        #expect(try await db.count("SELECT count(*) FROM pupils") == 5)

        // Then it writes the export in place, in three pieces a little apart: nothing is
        // imported until the whole file has been quiet for the settle time. Had the first
        // piece (no end record) been imported, that run would have failed. The settle time is
        // twenty times the writer's pauses, so that a test run keeping both cores busy does
        // not stretch a pause into what looks like the end of the file.
        let whole = Array(DaemonSetup.records(source: .init(name: "dropped", pupils: 8)).utf8)
        let third = whole.count / 3
        let pauses = try await SlowWriter.write(
            [Array(whole[..<third]), Array(whole[third..<(2 * third)]), Array(whole[(2 * third)...])], to: export,
            pause: .milliseconds(300))
        #expect(pauses.allSatisfy { $0 < .seconds(6) }, "the writer's pauses stayed shorter than the settle time: \(pauses)")
        #expect(await daemon.waitFor("kind=import seconds=", count: 2), "\(daemon.log)")
        #expect(try await db.count("SELECT count(*) FROM import_runs WHERE status = 'failed'") == 0, "\(daemon.log)")
        #expect(try await db.count("SELECT count(*) FROM import_runs WHERE status = 'succeeded'") == 2)
        #expect(try await db.count("SELECT count(*) FROM pupils") == 8)
        #expect(await daemon.stop() == 0)
        await db.close()
    }

    @Test func onceSaysSoWhenTheMailCouldNotBeDelivered() async throws {
        let url = try await TestPostgres.shared.freshDatabase("daemon-once-mail")
        let setup = try DaemonSetup.make("daemon-once-mail", url: url, sources: [.init(name: "source")])
        defer { setup.remove() }
        let text = try String(contentsOfFile: setup.config, encoding: .utf8)
        try (text + "\ntransport = \"sendmail\"\nsendmail_path = \"/bin/false\"\n")  // in [mail]
            .write(toFile: setup.config, atomically: true, encoding: .utf8)
        let once = try await TestProcess.run(TestProcess.executable("provisiond"), ["--config", setup.config, "--once"])
        #expect(once.exitCode == 1, "\(once.standardOutput)\(once.standardError.suffix(3000))")
        #expect(once.standardOutput.contains("1 sources, 0 failed"))
        #expect(once.standardOutput.contains("Mail: 0 sent"), "\(once.standardOutput)")
    }

    @Test func aDatabaseRestartPausesTheDaemonWhichThenCarriesOn() async throws {
        let setup = try DaemonSetup.make("daemon-restart", url: nil, sources: [.init(name: "source")])
        defer { setup.remove() }
        let daemon = try RunningDaemon(config: setup.config)
        defer { kill(daemon.pid, SIGKILL) }
        #expect(await daemon.waitFor("operations endpoint listening", seconds: 120))
        let port = try #require(daemon.httpPort)
        let cluster = try EmbeddedCluster(root: setup.folder + "/state/postgres")

        try await cluster.stop()
        let (downCode, down) = try await httpGet(port: port, path: "/healthz")
        #expect(downCode == 503)
        #expect(down.contains("unavailable"))
        // A service in its session says it lost the database; one still connecting (the
        // cluster may stop before every service has its session) says it is unavailable.
        let noticed = await eventually(seconds: 120) {
            daemon.log.contains("lost the database; reconnecting") || daemon.log.contains("database unavailable, retrying")
        }
        #expect(noticed, "\(daemon.log)")
        #expect(daemon.process.isRunning, "a lost database does not stop the daemon")
        #expect(try await cluster.start())

        _ = try await setup.provisionctl(["enqueue", "--source", "source"])
        #expect(await daemon.waitFor("msg=\"job completed\" job=1 kind=import", seconds: 120), "\(daemon.log)")
        #expect(await daemon.waitFor("msg=\"mail delivered\"", seconds: 120), "\(daemon.log)")
        let (upCode, _) = try await httpGet(port: port, path: "/healthz")
        #expect(upCode == 200)
        #expect(await daemon.stop() == 0)
        #expect(try await cluster.isRunning() == false, "the daemon stops the cluster it started")
    }
}
