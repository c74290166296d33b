import Foundation
import Postgres
import ProvisionConfig
import ProvisionJobs
import ProvisionStore
import ProvisionTestSupport
import Testing

@Suite("job queue")
struct JobQueueTests {
    let queue = JobQueue(retryBase: .seconds(10), retryMax: .seconds(60))

    func database(_ label: String) async throws -> (PostgresConnection, String) {
        let (db, url) = try await TestPostgres.shared.freshConnection(label)
        try await Migrator().migrate(db)
        return (db, url)
    }

    @Test func aWaitingDuplicateIsNotQueuedTwice() async throws {
        let (db, _) = try await database("jobs-unique")
        let first = try await queue.enqueue(db, kind: .importSource, payload: ["source": "a"], uniqueKey: "import:a", maxAttempts: 3)
        let second = try await queue.enqueue(db, kind: .importSource, payload: ["source": "a"], uniqueKey: "import:a", maxAttempts: 3)
        #expect(first != nil)
        #expect(second == nil)
        #expect(try await db.count("SELECT count(*) FROM jobs") == 1)
    }

    @Test func concurrentClaimsTakeDifferentJobsAndEachOnce() async throws {
        let (db, url) = try await database("jobs-claim")
        for n in 0..<40 {
            try await queue.enqueue(db, kind: .importSource, payload: ["source": "s\(n)"], uniqueKey: "import:s\(n)", maxAttempts: 3)
        }
        let queue = self.queue
        let claimed = try await withThrowingTaskGroup(of: [Int64].self) { group in
            for worker in 0..<4 {
                group.addTask {
                    let connection = try await PostgresConnection.connect(url)
                    var mine: [Int64] = []
                    while let job = try await queue.claim(connection, worker: "w\(worker)") {
                        mine.append(job.id)
                        try await queue.complete(connection, job, worker: "w\(worker)")
                    }
                    await connection.close()
                    return mine
                }
            }
            var all: [Int64] = []
            for try await ids in group { all += ids }
            return all
        }
        #expect(claimed.count == 40)
        #expect(Set(claimed).count == 40)
        #expect(try await db.count("SELECT count(*) FROM jobs WHERE state = 'completed'") == 40)
    }

    @Test func dueSchoolEvaluationsAreTakenTogetherRenewedAndGivenBack() async throws {
        let (db, _) = try await database("jobs-together")
        for urn in ["139001", "139002", "139003"] {
            try await queue.enqueue(db, kind: .evaluate, payload: ["school": urn], uniqueKey: "evaluate:\(urn)", maxAttempts: 3)
        }
        // Not theirs to take: a school's evaluation not yet due, the trust's, an import, and
        // a school's evaluation another worker holds.
        try await queue.enqueue(
            db, kind: .evaluate, payload: ["school": "139004"], uniqueKey: "evaluate:139004", maxAttempts: 3,
            runAt: Date().addingTimeInterval(3600))
        try await queue.enqueue(db, kind: .evaluate, payload: ["scope": "trust"], uniqueKey: "evaluate:trust", maxAttempts: 3)
        try await queue.enqueue(db, kind: .importSource, payload: ["source": "a"], uniqueKey: "import:a", maxAttempts: 3)
        let job = try #require(try await queue.claim(db, worker: "w1"))
        #expect(job.payload["school"] == "139001")
        let held = try #require(try await queue.claim(db, worker: "w2"))
        #expect(held.payload["school"] == "139002")

        let together = try await queue.claimDueSchoolEvaluations(db, worker: "w1", besides: job)
        #expect(together.map { $0.payload["school"] } == ["139003"])
        #expect(together.first?.attempt == 1)
        #expect(try await queue.claimDueSchoolEvaluations(db, worker: "w3", besides: held).isEmpty, "each job is held once")

        // The worker's heartbeat renews every job it holds.
        try await db.execute("UPDATE jobs SET heartbeat_at = now() - interval '1 hour' WHERE state = 'running'")
        #expect(try await queue.heartbeat(db, job, worker: "w1"))
        #expect(try await db.count("SELECT count(*) FROM jobs WHERE state = 'running' AND heartbeat_at > now() - interval '1 minute'") == 2)
        #expect(try await !queue.heartbeat(db, job, worker: "w2"), "not w2's job")

        // Given back when the evaluation fails: due again, its attempt not counted.
        let other = try #require(together.first)
        try await queue.release(db, other, worker: "w1", reason: "the trust evaluation that took it failed")
        #expect(try await db.count("SELECT count(*) FROM jobs WHERE id = $1 AND state = 'available' AND attempt = 0", other.id) == 1)
    }

    @Test func aJobWaitsWhileAnotherWithItsKeyRuns() async throws {
        let (db, _) = try await database("jobs-running-key")
        try await queue.enqueue(db, kind: .evaluate, payload: ["school": "139001"], uniqueKey: "evaluate:139001", maxAttempts: 3)
        let running = try #require(try await queue.claim(db, worker: "w1"))
        // Asked for again while it runs: queued (the new data must be evaluated), not run yet.
        let again = try await queue.enqueue(db, kind: .evaluate, payload: ["school": "139001"], uniqueKey: "evaluate:139001", maxAttempts: 3)
        #expect(again != nil)
        #expect(try await queue.claim(db, worker: "w2") == nil)
        try await queue.complete(db, running, worker: "w1")
        let next = try #require(try await queue.claim(db, worker: "w2"))
        #expect(next.id == again)
    }

    /// An import waits while another import bound to one of its schools runs, and the other
    /// workers take other schools' imports meanwhile.
    @Test func importsOfOneSchoolRunOneAtATime() async throws {
        let (db, _) = try await database("jobs-one-school")
        func queueImport(_ source: String, _ schools: [String]) async throws -> Int64 {
            try #require(try await queue.enqueueImport(db, source: source, schools: schools, reason: "test", maxAttempts: 3))
        }
        let ctf = try await queueImport("a-ctf", ["139001"])
        let marks = try await queueImport("a-marksheets", ["139001"])
        let other = try await queueImport("b-ctf", ["139002"])
        let both = try await queueImport("trust-sheet", ["139002", "139001"])
        try await queue.enqueue(db, kind: .evaluate, payload: ["school": "139001"], uniqueKey: "evaluate:139001", maxAttempts: 3)

        let first = try #require(try await queue.claim(db, worker: "w1"))
        #expect(first.id == ctf)
        let second = try #require(try await queue.claim(db, worker: "w2"))
        #expect(second.id == other, "the marksheets wait for their school's CTF; the next school's import runs")
        let third = try #require(try await queue.claim(db, worker: "w3"))
        #expect(third.kind == .evaluate, "only imports wait for imports")
        #expect(try await queue.claim(db, worker: "w3") == nil)
        try await queue.complete(db, first, worker: "w1")
        let fourth = try #require(try await queue.claim(db, worker: "w1"))
        #expect(fourth.id == marks)
        try await queue.complete(db, second, worker: "w2")
        #expect(try await queue.claim(db, worker: "w2") == nil, "the import bound to both schools waits for the marksheets")
        try await queue.complete(db, fourth, worker: "w1")
        #expect(try await queue.claim(db, worker: "w2")?.id == both)
    }

    /// Workers claiming at once never run two imports of one school together.
    @Test func concurrentClaimsNeverRunTwoImportsOfOneSchool() async throws {
        let (db, url) = try await database("jobs-one-school-race")
        for n in 0..<30 {
            try await queue.enqueueImport(db, source: "s\(n)", schools: ["13900\(n % 3)"], reason: "test", maxAttempts: 3)
        }
        let queue = self.queue
        let overlaps = try await withThrowingTaskGroup(of: (runs: Int, overlaps: Int).self) { group in
            for worker in 0..<4 {
                group.addTask {
                    let connection = try await PostgresConnection.connect(url)
                    var (runs, overlaps) = (0, 0)
                    while true {
                        guard let job = try await queue.claim(connection, worker: "w\(worker)") else {
                            // Waiting for a school another worker imports, or nothing left.
                            if try await connection.count("SELECT count(*) FROM jobs WHERE state <> 'completed'") == 0 { break }
                            await Task.yield()
                            continue
                        }
                        runs += 1
                        overlaps += try await connection.count(
                            "SELECT count(*) FROM jobs WHERE state = 'running' AND payload->>'schools' = $1", job.payload["schools"] ?? "")
                            - 1
                        try await queue.complete(connection, job, worker: "w\(worker)")
                    }
                    await connection.close()
                    return (runs, overlaps)
                }
            }
            return try await group.reduce(into: (runs: 0, overlaps: 0)) { $0.runs += $1.runs; $0.overlaps += $1.overlaps }
        }
        #expect(overlaps.runs == 30)
        #expect(overlaps.overlaps == 0)
    }

    @Test func aJobPutBackWhileADuplicateWaitsGivesWayToIt() async throws {
        let (db, _) = try await database("jobs-superseded")
        for outcome in ["postpone", "fail", "release"] {
            try await queue.enqueue(db, kind: .evaluate, payload: ["school": "139001"], uniqueKey: "evaluate:139001", maxAttempts: 3)
            let running = try #require(try await queue.claim(db, worker: "w"))
            let waiting = try #require(try await queue.enqueue(db, kind: .evaluate, payload: ["school": "139001"], uniqueKey: "evaluate:139001", maxAttempts: 3))
            switch outcome {
            case "postpone": try await queue.postpone(db, running, worker: "w", until: Date())
            case "fail": #expect(try await queue.fail(db, running, worker: "w", error: "x") == .superseded)
            default: try await queue.release(db, running, worker: "w", reason: "stopping")
            }
            #expect(try await db.query("SELECT state FROM jobs WHERE id = $1", running.id).singleRow()?.decode("state", as: String.self) == "discarded", "\(outcome)")
            let next = try #require(try await queue.claim(db, worker: "w"))
            #expect(next.id == waiting)
            try await queue.complete(db, next, worker: "w")
        }
    }

    @Test func countsAndListingSayWhatTheQueueHolds() async throws {
        let (db, _) = try await database("jobs-counts")
        #expect(try await JobQueue.counts(db) == JobCounts())
        for source in ["a", "b", "c", "d"] {
            try await queue.enqueue(db, kind: .importSource, payload: ["source": source], uniqueKey: "import:\(source)", maxAttempts: 1)
        }
        try await queue.enqueue(
            db, kind: .evaluate, payload: ["school": "100001"], uniqueKey: nil, maxAttempts: 1, runAt: Date().addingTimeInterval(3600))
        try await db.execute("UPDATE jobs SET run_at = now() - interval '90 seconds' WHERE payload->>'source' = 'a'")
        let running = try #require(try await queue.claim(db, worker: "w1"))  // a: the oldest due
        let failing = try #require(try await queue.claim(db, worker: "w1"))
        _ = try await queue.fail(db, failing, worker: "w1", error: "plugin exited with status 3")
        let counts = try await JobQueue.counts(db)
        #expect(counts.running == 1 && counts.failed == 1 && counts.due == 2 && counts.available == 3, "\(counts)")
        #expect(counts.lagSeconds < 60, "the 90-second job is running, not waiting: \(counts)")
        #expect(try await JobQueue.importsPending(db, sources: ["a", "c"]) == 2)
        #expect(try await JobQueue.importsPending(db, sources: ["zzz"]) == 0)
        let listed = try await JobQueue.listing(db, failedWithinDays: 7)
        #expect(listed.map(\.state) == ["available", "available", "available", "failed", "running"])
        #expect(listed.last?.id == running.id && listed.last?.worker == "w1" && listed.last?.subject == "a")
        #expect(listed.first { $0.state == "failed" }?.lastError == "plugin exited with status 3")
        #expect(listed.first { $0.kind == "evaluate" }?.subject == "100001")
    }

    @Test func failuresBackOffExponentiallyThenGiveUp() async throws {
        let (db, _) = try await database("jobs-backoff")
        // Minutes, not seconds: "not due yet" must hold however long a busy machine keeps
        // this test waiting between recording a failure and the next claim (a CI run once
        // saw more than ten seconds pass there).
        let queue = JobQueue(retryBase: .seconds(600), retryMax: .seconds(3600))
        let id = try #require(try await queue.enqueue(db, kind: .importSource, payload: ["source": "a"], uniqueKey: nil, maxAttempts: 3))
        // Each wait is bracketed by clocks read just before and just after the failure is
        // recorded (the server takes its own time between them), so a slow machine cannot
        // push it out of range.
        var waits: [(atMost: Double, atLeast: Double)] = []
        for attempt in 1...3 {
            let job = try #require(try await queue.claim(db, worker: "w"))
            #expect(job.attempt == attempt)
            let before = Date()
            let outcome = try await queue.fail(db, job, worker: "w", error: "plugin exited with status 3")
            let after = Date()
            if case .retrying(let at, let wait) = outcome {
                #expect(abs(at.timeIntervalSince(before) - wait.seconds) < 0.05 + after.timeIntervalSince(before))
                waits.append((at.timeIntervalSince(before), at.timeIntervalSince(after)))
                // Not due yet: nothing to claim until the backoff has passed.
                #expect(try await queue.claim(db, worker: "w") == nil)
                try await db.execute("UPDATE jobs SET run_at = now() WHERE id = $1", id)
            } else {
                #expect(outcome == .failed)
            }
        }
        #expect(waits.count == 2)
        // base × 2^(attempt−1), less up to a fifth of it for jitter: 480–600 s, then
        // 960–1,200 s. The backoff itself, exactly; the recorded retry, within its bracket
        // (and a twentieth of a second for the clocks' rounding).
        for (attempt, range) in [(1, 480.0...600.0), (2, 960.0...1200.0)] {
            let drawn = (0..<50).map { _ in queue.backoff(afterAttempt: attempt).seconds }
            #expect(drawn.allSatisfy { range.contains(Double($0)) }, "attempt \(attempt): \(drawn)")
        }
        #expect(waits[0].atMost >= 479.95 && waits[0].atLeast <= 600.05, "\(waits)")
        #expect(waits[1].atMost >= 959.95 && waits[1].atLeast <= 1200.05, "\(waits)")
        #expect(try await db.query("SELECT state, last_error FROM jobs WHERE id = $1", id).singleRow()?.decode("state", as: String.self) == "failed")
        // Capped: at most the cap, at least 80% of it, and not the same every time.
        let capped = (0..<50).map { _ in queue.backoff(afterAttempt: 10).seconds }
        #expect(capped.allSatisfy { (2880...3600).contains($0) }, "\(capped)")
        #expect(Set(capped).count > 1, "jitter spreads retries out")
    }

    @Test func aWorkerThatWasRescuedCannotOverwriteTheJob() async throws {
        let (db, url) = try await database("jobs-rescue")
        try await queue.enqueue(db, kind: .importSource, payload: ["source": "a"], uniqueKey: "import:a", maxAttempts: 3)
        // A worker claims through a connection named as a daemon's worker, then dies.
        let worker = try await PostgresConnection.connect(url, applicationName: JobQueue.applicationNamePrefix + "host/1/w0")
        let job = try #require(try await queue.claim(worker, worker: "host/1/w0"))
        #expect(try await queue.rescue(db, staleAfter: .seconds(600)).isEmpty, "a live worker's job is left alone")
        await worker.close()
        let rescued = try await eventually(seconds: 60) { try await !queue.rescue(db, staleAfter: .seconds(600)).isEmpty }
        #expect(rescued)
        #expect(try await db.count("SELECT count(*) FROM jobs WHERE state = 'available' AND attempt = 1") == 1)
        // The presumed-dead worker reports late: nothing changes, and its lease is gone.
        #expect(try await queue.heartbeat(db, job, worker: "host/1/w0") == false)
        #expect(try await queue.complete(db, job, worker: "host/1/w0") == false)
        #expect(try await queue.fail(db, job, worker: "host/1/w0", error: "late") == .notOurs)
        let again = try #require(try await queue.claim(db, worker: "host/2/w0"))
        #expect(again.attempt == 2)
    }

    @Test func aJobWithoutHeartbeatsIsRescuedEvenIfItsConnectionLives() async throws {
        let (db, url) = try await database("jobs-stale")
        try await queue.enqueue(db, kind: .evaluate, payload: ["school": "139001"], uniqueKey: nil, maxAttempts: 3)
        let worker = try await PostgresConnection.connect(url, applicationName: JobQueue.applicationNamePrefix + "hung/1/w0")
        _ = try #require(try await queue.claim(worker, worker: "hung/1/w0"))
        try await db.execute("UPDATE jobs SET heartbeat_at = now() - interval '20 minutes'")
        let rescued = try await queue.rescue(db, staleAfter: .seconds(600))
        #expect(rescued.map(\.state) == ["available"])
        #expect(rescued.first?.worker == "hung/1/w0")
        await worker.close()
    }

    @Test func eachCronSlotBecomesOneJobWhateverTheNumberOfDaemons() async throws {
        let (db, url) = try await database("jobs-slots")
        let zone = try #require(TimeZone(identifier: "Europe/London"))
        let source = Configuration.Source(
            name: "fenland-ctf", plugin: "ctf", path: "/srv/x", schools: ["139001"], schedule: try CronSchedule("0 2 * * *"),
            environment: [:], timeoutSeconds: 60, maxRejected: 0.02)
        let before = try #require(ISO8601DateFormatter().date(from: "2026-11-29T01:00:00Z"))
        try await SourceSchedules.synchronise(db, sources: [source], timeZone: zone, now: before)
        let slots = try await SourceSchedules.nextSlots(db)
        #expect(slots["fenland-ctf"] == ISO8601DateFormatter().date(from: "2026-11-29T02:00:00Z"))
        // Four daemons find the slot due at the same moment.
        let at = try #require(ISO8601DateFormatter().date(from: "2026-11-29T02:00:30Z"))
        let queue = self.queue
        let queued = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    let connection = try await PostgresConnection.connect(url)
                    let slots = try await SourceSchedules.queueDue(
                        connection, sources: [source], timeZone: zone, queue: queue, maxAttempts: 3, now: at)
                    await connection.close()
                    return slots.count
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(queued == 1)
        #expect(try await db.count("SELECT count(*) FROM jobs WHERE kind = 'import'") == 1)
        #expect(try await db.count("SELECT count(*) FROM jobs WHERE payload->>'schools' = '139001'") == 1)
        #expect(try await SourceSchedules.nextSlots(db)["fenland-ctf"] == ISO8601DateFormatter().date(from: "2026-11-30T02:00:00Z"))
        // Removed from the configuration: its schedule goes.
        try await SourceSchedules.synchronise(db, sources: [], timeZone: zone, now: at)
        #expect(try await SourceSchedules.nextSlots(db).isEmpty)
    }

    /// Sources whose slots fall together are queued in the order they are configured, so a
    /// school's CTF, listed first, runs before the marksheets that name its pupils.
    @Test func slotsFallingTogetherAreQueuedInTheConfiguredOrder() async throws {
        let (db, _) = try await database("jobs-slot-order")
        let zone = try #require(TimeZone(identifier: "Europe/London"))
        let sources = try ["b-ctf", "a-marksheets", "c-map", "a-ctf"].map { name in
            Configuration.Source(
                name: name, plugin: "ctf", path: "/srv/x", schools: ["139001"], schedule: try CronSchedule("0 2 * * *"),
                environment: [:], timeoutSeconds: 60, maxRejected: 0.02)
        }
        let before = try #require(ISO8601DateFormatter().date(from: "2026-11-29T01:00:00Z"))
        // Synchronised in another order: the rows' order says nothing.
        try await SourceSchedules.synchronise(db, sources: sources.reversed(), timeZone: zone, now: before)
        let at = try #require(ISO8601DateFormatter().date(from: "2026-11-29T02:00:30Z"))
        let queued = try await SourceSchedules.queueDue(db, sources: sources, timeZone: zone, queue: queue, maxAttempts: 3, now: at)
        #expect(queued.map(\.source) == sources.map(\.name))
        let byID = try await db.query("SELECT payload->>'source' AS source FROM jobs ORDER BY id").rows
            .map { try $0.decode("source", as: String.self) }
        #expect(byID == sources.map(\.name))
    }
}
