import ArgumentParser
import Foundation
import Postgres
import ProvisionAlerts
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
            these stable fields: time_zone, sources[] (name, plugin, schedule, watch, next_run,
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
        /// Imported whenever its export changes (`watch`).
        var watch = false
        var nextRun: Date?
        /// The latest run and the last success, as `import_runs` has them.
        var lastRun: ImportRuns.Latest?
    }

    var timeZone: String
    /// How plugins are isolated (`plugins.sandbox`), and whether it can run here.
    var sandbox = "bwrap"
    var sandboxAvailable = true
    var sources: [Source] = []
    var running: [JobListing] = []
    var waiting: [JobListing] = []
    var failed: [JobListing] = []
    var outbox = MailOutboxCounts()
    /// Where the console listens: the running daemon's word (state.dir/console-address), else
    /// the configuration's; nil when it is turned off.
    var console: String?

    static func read(_ db: PostgresConnection, config: Configuration, failedDays: Int) async throws -> StatusReport {
        var report = StatusReport(timeZone: config.daemon.timeZone.identifier)
        report.sandbox = config.plugins.sandbox.rawValue
        report.sandboxAvailable = PluginSandbox(config.plugins).isAvailable
        let slots = try await SourceSchedules.nextSlots(db)
        let lastRuns = try await ImportRuns.latest(db)
        for source in config.sources {
            var item = Source(name: source.name, plugin: source.plugin, schedule: source.schedule?.expression)
            item.watch = source.watch
            // The daemon's row when it has one; otherwise what the schedule says.
            item.nextRun = slots[source.name] ?? source.schedule?.nextFire(after: Date(), in: config.daemon.timeZone)
            item.lastRun = lastRuns[source.name]
            report.sources.append(item)
        }
        for job in try await JobQueue.listing(db, failedWithinDays: failedDays) {
            switch job.state {
            case "running": report.running.append(job)
            case "available": report.waiting.append(job)
            default: report.failed.append(job)
            }
        }
        report.outbox = try await MailOutboxCounts.read(db)
        if let listen = config.console.listen {
            let written = try? String(contentsOfFile: config.consoleAddressFile, encoding: .utf8)
            report.console = written?.trimmingCharacters(in: .whitespacesAndNewlines)
                ?? HostPort.url(scheme: config.console.servesTLS ? "https" : "http", host: listen.host, port: listen.port) + "/"
        }
        return report
    }

    /// "0 2 * * *", "watch", "0 2 * * * + watch" or "on demand".
    static func when(_ source: Source) -> String {
        let parts = [source.schedule, source.watch ? "watch" : nil].compactMap { $0 }
        return parts.isEmpty ? "on demand" : parts.joined(separator: " + ")
    }

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
            var line = "  \(source.name.padded(to: nameWidth))\(source.plugin.padded(to: pluginWidth))\(Self.when(source).padded(to: 13))"
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
        var mail = "Outbox: \(outbox.pending) waiting, \(outbox.failed) failed"
        if let oldest = outbox.oldestPending { mail += " (oldest waiting since \(show(oldest)))" }
        lines.append(mail)
        lines.append("Console: \(console ?? "off ([console] listen = \"\")")")
        return lines.joined(separator: "\n")
    }

    var json: JSONValue {
        func time(_ date: Date?) -> JSONValue {
            guard let date else { return .null }
            return .string(ISO8601DateFormatter().string(from: date))
        }
        func text(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
        func jobs(_ list: [JobListing]) -> JSONValue {
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
                    "name": .string(source.name), "plugin": .string(source.plugin), "schedule": text(source.schedule), "watch": .bool(source.watch),
                    "next_run": time(source.nextRun), "last_success_at": time(source.lastRun?.lastSuccessAt),
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
                "pending": .number(Double(outbox.pending)), "failed": .number(Double(outbox.failed)),
                "oldest_pending_at": time(outbox.oldestPending),
            ]),
            "console": text(console),
        ])
    }
}
