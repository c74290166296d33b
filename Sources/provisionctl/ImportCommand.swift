import ArgumentParser
import Foundation
import ProvisionAlerts
import ProvisionApp
import ProvisionModel
import ProvisionConfig
import ProvisionEvaluation
import ProvisionImport
import ProvisionStore

struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Run one import now, through the same pipeline the daemon uses.",
        discussion: """
            Either a configured source:   provisionctl import --source fenland-ctf
            or a plugin on a path:        provisionctl import --plugin ctf --school 139001 /path/export.xml

            The run is all or nothing: when the plugin fails, breaks the protocol or too many
            records are rejected, nothing is written. After a successful import the source's
            schools are evaluated (unless --no-evaluate), but for a school whose evaluation
            today already saw exactly this data. An input identical to the source's last
            successful run is skipped as unchanged unless --force is given.

            Exit status: 0 imported (or unchanged), 1 the run failed, 65 the input was rejected.
            """)

    @OptionGroup var options: ConfigOption

    @Option(help: "A source named in the configuration's [[sources]].")
    var source: String?

    @Option(help: "A plugin to run on PATH (with --school).")
    var plugin: String?

    @Option(help: "The URN of a configured school the records are for (with --plugin; repeatable).")
    var school: [String] = []

    @Flag(help: "Import even if the input is unchanged since the last successful run.")
    var force = false

    @Flag(help: "Do not evaluate the source's schools after a successful import.")
    var noEvaluate = false

    @Flag(name: .shortAndLong, help: "No progress line, even at a terminal.")
    var quiet = false

    @Argument(help: "The file or folder to import (with --plugin).")
    var path: String?

    func validate() throws {
        if source != nil, plugin != nil || path != nil || !school.isEmpty {
            throw ValidationError("Give either --source NAME, or --plugin NAME --school URN PATH, not both.")
        }
        if source == nil, plugin == nil || path == nil || school.isEmpty {
            throw ValidationError("Give --source NAME, or --plugin NAME --school URN PATH.")
        }
    }

    func run() async throws {
        try await reportingErrors {
            let config = try options.load()
            let catalog = PluginCatalog.discover(in: config.plugins.directories)
            let request = try makeRequest(config: config, catalog: catalog)
            let summary = try await withMigratedDatabase(config) { database in
                var pipeline = ImportPipeline(database: database, stateDirectory: config.stateDirectory)
                let terminal = TerminalProgress(quiet: quiet)
                if terminal.enabled {
                    pipeline.onProgress = { progress in
                        switch progress.phase {
                        case .reading:
                            // Time left only when the last run's size gives it (not on a first run).
                            let left = progress.timeLeft.map { ", about \(Int($0.seconds.rounded(.up))) s left" } ?? ""
                            terminal.show(
                                "importing \(progress.source): \(progress.records.groupedDigits) records, "
                                    + "\(TerminalProgress.bytes(progress.bytes)), \(Int(progress.rate).groupedDigits) records/s\(left)")
                        case .merging:
                            terminal.show(
                                "importing \(progress.source): merging \(progress.records.groupedDigits) records…", force: true)
                        }
                    }
                }
                let summary = try await pipeline.run(request)
                terminal.finish()
                print(ImportSummaryText.render(summary, source: request.sourceName))
                // A successful import changes what the evaluation sees: evaluate its schools now,
                // but for a school whose evaluation today already saw exactly this data.
                if summary.status == .succeeded && !noEvaluate {
                    let db = try await database.connect(applicationName: "provision-evaluate")
                    for school in request.schools {
                        // Should the question fail, the school is evaluated (which reports the failure).
                        if let run = try? await upToDateEvaluation(db, config: config, school: school.urn, asOf: SchoolDate.today()) {
                            print(EvaluationText.upToDate(run: run, scope: "school \(school.urn)"))
                            continue
                        }
                        let (result, alerts) = try await evaluateAndAlert(
                            db, config: config, school: school.urn, asOf: SchoolDate.today(),
                            openHelper: { try await database.connect(applicationName: "provision-evaluate-stalls") })
                        print(EvaluationText.render(result, alerts: alerts, scope: "school \(school.urn)"))
                    }
                    await db.close()
                }
                return summary
            }
            switch summary.status {
            case .succeeded, .unchanged: return
            case .failed: throw ExitCode(summary.inputRejected ? ExitStatus.badInput : ExitStatus.failed)
            }
        }
    }

    private func makeRequest(config: Configuration, catalog: PluginCatalog) throws -> ImportRequest {
        func manifest(_ name: String) throws -> PluginManifest {
            if let found = catalog.plugin(named: name) { return found }
            throw UsageProblem(
                catalog.unavailable(name, directories: config.plugins.directories) + ".\nSee `provisionctl plugin list`.")
        }
        if let source {
            guard let configured = config.source(named: source) else {
                throw UsageProblem(
                    "No source named '\(source)' in \(config.file). Configured: \(config.sources.map(\.name).joined(separator: ", ")).")
            }
            return ImportRequest(source: configured, config: config, plugin: try manifest(configured.plugin), force: force)
        }
        for urn in school where config.school(urn: urn) == nil {
            throw UsageProblem("School \(urn) is not declared in \(config.file); add it under [[schools]] first.")
        }
        let pluginName = plugin ?? ""
        let absolute = URL(fileURLWithPath: path ?? "").standardizedFileURL.path
        return ImportRequest(
            sourceName: "manual-\(pluginName)-\(school.joined(separator: "-"))", plugin: try manifest(pluginName),
            path: absolute, schools: school.map { ($0, config.school(urn: $0)?.name ?? $0) },
            limits: PluginLimits(config.plugins, timeoutSeconds: config.plugins.timeoutSeconds),
            maxRejected: config.plugins.maxRejected, maxLeavers: config.plugins.maxLeavers, force: force)
    }
}

/// A request that cannot be carried out as asked (exit 64).
struct UsageProblem: ReportableError {
    let message: String
    init(_ message: String) { self.message = message }
    var exitStatus: Int32 { ExitStatus.usage }
    var description: String { message }
}

/// The import summary as printed for a person. Counts and reasons only: no pupil data.
enum ImportSummaryText {
    static func render(_ summary: ImportSummary, source: String) -> String {
        var lines: [String] = []
        let seconds = summary.duration.seconds
        lines.append("Import run \(summary.runID) of source \(source): \(summary.status.rawValue) in \(String(format: "%.1f", seconds)) s")
        if summary.status == .unchanged {
            lines.append("The input is identical to the last successful run's; nothing to do (use --force to re-run).")
            return lines.joined(separator: "\n")
        }
        if let failure = summary.failure { lines.append("Failed: \(failure)") }
        if !summary.sent.isEmpty {
            lines.append("Records (\(summary.sourceKind)):")
            for type in summary.sent.keys.sorted() {
                lines.append("  \(type.padded(to: 12)) sent \(summary.sent[type] ?? 0), valid \(summary.accepted[type] ?? 0)")
            }
        }
        lines.append("Rejected: \(summary.rejected)   Data-quality warnings: \(summary.warnings)")
        if summary.status == .succeeded {
            let merge = summary.merge
            let tables = Set(merge.inserted.keys).union(merge.updated.keys).sorted()
            let changes = tables.compactMap { table -> String? in
                let inserted = merge.inserted[table] ?? 0, updated = merge.updated[table] ?? 0
                return inserted + updated == 0 ? nil : "\(table) +\(inserted) ~\(updated)"
            }
            lines.append("Changed: " + (changes.isEmpty ? "nothing (already up to date)" : changes.joined(separator: ", ")))
            if merge.markedLeft > 0 { lines.append("Marked as left (missing from this snapshot): \(merge.markedLeft)") }
            if merge.writtenDirectly > 0 { lines.append("Written straight into their tables (new pupils and their results): \(merge.writtenDirectly) records") }
            if merge.alreadyStored > 0 { lines.append("Already stored as they are (not staged): \(merge.alreadyStored) records") }
            if summary.rememberedLines > 0 {
                lines.append("  of which lines as the last run sent them (not read again): \(summary.rememberedLines)")
            }
            if summary.resultsVouched {
                lines.append("Stored results not listed: unchanged since the last run, which vouched for them")
            }
            if merge.duplicates > 0 { lines.append("Repeated records (the last one was kept): \(merge.duplicates)") }
        }
        if !summary.firstReasons.isEmpty {
            lines.append("First rejections:")
            lines.append(contentsOf: summary.firstReasons.map { "  \($0)" })
        }
        if summary.status == .failed, !summary.stderr.isEmpty {
            lines.append("Plugin stderr (start):")
            lines.append(contentsOf: summary.stderr.split(separator: "\n").prefix(10).map { "  \($0)" })
        }
        return lines.joined(separator: "\n")
    }
}
