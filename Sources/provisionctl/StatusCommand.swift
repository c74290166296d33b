import ArgumentParser
import Foundation
import Postgres
import ProvisionApp
import ProvisionImport
import ProvisionConfig
import ProvisionJobs
import ProvisionModel

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show sources with their last and next run, running and failed jobs, and the outbox.",
        discussion: """
            Reads the shared state in the database, so it shows the work of every daemon
            that uses it. Times are in daemon.time_zone; --json gives UTC ISO 8601 times and
            these stable fields: time_zone, sources[] (name, plugin, schedule, next_run,
            last_run {id, status, started_at, finished_at, failure}, last_success_at),
            jobs {running[], waiting[], failed[]} (id, kind, subject, attempt, max_attempts,
            worker, since, run_at, last_error), outbox {pending, failed, oldest_pending_at}.
            """)

    @OptionGroup var options: ConfigOption

    @Flag(help: "Print one JSON document.")
    var json = false

    @Option(help: "Failed jobs from this many days back.")
    var failedDays = 7

    func run() async throws {
        try await reportingErrors {
            let config = try options.load()
            let report = try await withConnection(config, applicationName: "provisionctl-status", migrated: true) { _, db in
                try await StatusReport.read(db, config: config, failedDays: failedDays)
            }
            print(json ? report.json.serialized : report.text(timeZone: config.daemon.timeZone))
        }
    }
}

/// What `status` shows, read in one pass.
struct StatusReport {
    struct Source {
        var name: String
        var plugin: String
        var schedule: String?
        var nextRun: Date?
        var lastRun: (id: Int64, status: String, startedAt: Date, finishedAt: Date?, failure: String?)?
        var lastSuccessAt: Date?
    }

    struct Job {
        var id: Int64
        var kind: String
        var subject: String
        var attempt: Int
        var maxAttempts: Int
        var worker: String?
        var since: Date?
        var runAt: Date
        var lastError: String?
    }

    var timeZone: String
    /// How plugins are isolated (`plugins.sandbox`), and whether it can run here.
    var sandbox = "bwrap"
    var sandboxAvailable = true
    var sources: [Source] = []
    var running: [Job] = []
    var waiting: [Job] = []
    var failed: [Job] = []
    var outboxPending = 0
    var outboxFailed = 0
    var oldestPending: Date?

    static func read(_ db: PostgresConnection, config: Configuration, failedDays: Int) async throws -> StatusReport {
        var report = StatusReport(timeZone: config.daemon.timeZone.identifier)
        report.sandbox = config.plugins.sandbox.rawValue
        report.sandboxAvailable = PluginSandbox(config.plugins).isAvailable
        let slots = try await SourceSchedules.nextSlots(db)
        let runs = try await db.query(
            """
            SELECT DISTINCT ON (source) source, id, status, extract(epoch FROM started_at)::float8 AS started,
                   extract(epoch FROM finished_at)::float8 AS finished, failure,
                   (SELECT extract(epoch FROM max(finished_at))::float8 FROM import_runs s
                     WHERE s.source = r.source AND s.status IN ('succeeded', 'unchanged')) AS last_success
              FROM import_runs r ORDER BY source, id DESC
            """)
        var lastRuns: [String: PostgresRow] = [:]
        for row in runs.rows { lastRuns[try row.decode("source")] = row }
        for source in config.sources {
            var item = Source(name: source.name, plugin: source.plugin, schedule: source.schedule?.expression)
            // The daemon's row when it has one; otherwise what the schedule says.
            item.nextRun = slots[source.name] ?? source.schedule?.nextFire(after: Date(), in: config.daemon.timeZone)
            if let row = lastRuns[source.name] {
                item.lastRun = (
                    try row.decode("id"), try row.decode("status"), date(try row.decode("started", as: Double.self)),
                    try row.decode("finished", as: Double?.self).map(date), try row.decode("failure")
                )
                item.lastSuccessAt = try row.decode("last_success", as: Double?.self).map(date)
            }
            report.sources.append(item)
        }
        let jobs = try await db.query(
            """
            SELECT id, kind, state, coalesce(payload->>'source', payload->>'school', '') AS subject, attempt, max_attempts,
                   locked_by, extract(epoch FROM locked_at)::float8 AS since, extract(epoch FROM run_at)::float8 AS run_at,
                   extract(epoch FROM finished_at)::float8 AS finished, last_error
              FROM jobs
             WHERE state IN ('running', 'available')
                OR (state = 'failed' AND finished_at > now() - make_interval(days => $1))
             ORDER BY state, run_at, id
            """, failedDays)
        for row in jobs.rows {
            let job = Job(
                id: try row.decode("id"), kind: try row.decode("kind"), subject: try row.decode("subject"),
                attempt: try row.decode("attempt"), maxAttempts: try row.decode("max_attempts"),
                worker: try row.decode("locked_by"),
                since: try (row.decode("since", as: Double?.self) ?? (row.decode("finished", as: Double?.self))).map(date),
                runAt: date(try row.decode("run_at", as: Double.self)), lastError: try row.decode("last_error"))
            switch try row.decode("state", as: String.self) {
            case "running": report.running.append(job)
            case "available": report.waiting.append(job)
            default: report.failed.append(job)
            }
        }
        if let outbox = try await db.query(
            """
            SELECT count(*) FILTER (WHERE state = 'pending') AS pending, count(*) FILTER (WHERE state = 'failed') AS failed,
                   extract(epoch FROM min(created_at) FILTER (WHERE state = 'pending'))::float8 AS oldest
              FROM mail_outbox
            """
        ).singleRow() {
            report.outboxPending = try outbox.decode("pending")
            report.outboxFailed = try outbox.decode("failed")
            report.oldestPending = try outbox.decode("oldest", as: Double?.self).map(date)
        }
        return report
    }

    private static func date(_ seconds: Double) -> Date { Date(timeIntervalSince1970: seconds) }

    func text(timeZone: TimeZone) -> String {
        let formatter = DateFormatter()
        formatter.timeZone = timeZone
        formatter.locale = Locale(identifier: "en_GB_POSIX")
        formatter.dateFormat = "yyyy-MM-dd HH:mm"
        func show(_ date: Date?) -> String { date.map(formatter.string) ?? "-" }
        var lines: [String] = []
        if sandbox == "none" {
            lines.append("WARNING: plugins.sandbox = \"none\": importer plugins run unconfined, as this user (docs/security.md)")
        } else if !sandboxAvailable {
            lines.append("WARNING: plugins.sandbox = \"\(sandbox)\" but bubblewrap is not installed: every import will fail")
        } else {
            lines.append("Plugin sandbox: \(sandbox)")
        }
        lines.append("Sources (times in \(self.timeZone)):")
        // One wider than the longest, so every column lines up (padded(to:) adds a space
        // after a string that already fills the width).
        let nameWidth = (sources.map(\.name.count).max() ?? 0) + 1
        let pluginWidth = (sources.map(\.plugin.count).max() ?? 0) + 1
        for source in sources {
            var line = "  \(source.name.padded(to: nameWidth))\(source.plugin.padded(to: pluginWidth))\((source.schedule ?? "on demand").padded(to: 13))"
            line += "next \(show(source.nextRun).padded(to: 17))"
            if let run = source.lastRun {
                line += " last: run \(run.id) \(run.status) \(show(run.startedAt))"
                if let failure = run.failure { line += " (\(failure.prefix(80)))" }
            } else {
                line += " last: never run"
            }
            lines.append(line)
        }
        lines.append("Jobs: \(running.count) running, \(waiting.count) waiting, \(failed.count) failed recently")
        for job in running {
            lines.append("  running  job \(job.id) \(job.kind) \(job.subject) on \(job.worker ?? "?") since \(show(job.since)) (attempt \(job.attempt)/\(job.maxAttempts))")
        }
        for job in waiting {
            var line = "  waiting  job \(job.id) \(job.kind) \(job.subject) at \(show(job.runAt))"
            if job.attempt > 0 { line += " (retry after attempt \(job.attempt)/\(job.maxAttempts): \(job.lastError?.prefix(80) ?? ""))" }
            lines.append(line)
        }
        for job in failed {
            lines.append("  FAILED   job \(job.id) \(job.kind) \(job.subject) at \(show(job.since)) after \(job.attempt) attempt(s): \(job.lastError?.prefix(120) ?? "")")
        }
        var outbox = "Outbox: \(outboxPending) waiting, \(outboxFailed) failed"
        if let oldestPending { outbox += " (oldest waiting since \(show(oldestPending)))" }
        lines.append(outbox)
        return lines.joined(separator: "\n")
    }

    var json: JSONValue {
        func time(_ date: Date?) -> JSONValue {
            guard let date else { return .null }
            return .string(ISO8601DateFormatter().string(from: date))
        }
        func text(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
        func jobs(_ list: [Job]) -> JSONValue {
            .array(list.map { job in
                .object([
                    "id": .number(Double(job.id)), "kind": .string(job.kind), "subject": .string(job.subject),
                    "attempt": .number(Double(job.attempt)), "max_attempts": .number(Double(job.maxAttempts)),
                    "worker": text(job.worker), "since": time(job.since), "run_at": time(job.runAt),
                    "last_error": text(job.lastError),
                ])
            })
        }
        return .object([
            "time_zone": .string(timeZone),
            "plugin_sandbox": .object(["mode": .string(sandbox), "available": .bool(sandboxAvailable)]),
            "sources": .array(sources.map { source in
                .object([
                    "name": .string(source.name), "plugin": .string(source.plugin), "schedule": text(source.schedule),
                    "next_run": time(source.nextRun), "last_success_at": time(source.lastSuccessAt),
                    "last_run": source.lastRun.map { run in
                        .object([
                            "id": .number(Double(run.id)), "status": .string(run.status), "started_at": time(run.startedAt),
                            "finished_at": time(run.finishedAt), "failure": text(run.failure),
                        ])
                    } ?? .null,
                ])
            }),
            "jobs": .object(["running": jobs(running), "waiting": jobs(waiting), "failed": jobs(failed)]),
            "outbox": .object([
                "pending": .number(Double(outboxPending)), "failed": .number(Double(outboxFailed)),
                "oldest_pending_at": time(oldestPending),
            ]),
        ])
    }
}
