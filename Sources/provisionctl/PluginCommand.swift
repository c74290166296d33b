import ArgumentParser
import Foundation
import ProvisionApp
import ProvisionConfig
import ProvisionImport

extension PluginSandbox.Mode: ExpressibleByArgument {}

struct PluginCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugin",
        abstract: "List importer plugins, or check one against a source without touching the database.",
        subcommands: [List.self, Check.self])
    @OptionGroup var options: ConfigOption

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the plugins found in plugins.dirs, with any broken manifests.")
        @OptionGroup var options: ConfigOption
        @Option(name: .customLong("dir"), help: "Search this folder instead of the configured plugins.dirs (repeatable).")
        var directories: [String] = []

        func run() async throws {
            try await reportingErrors {
                let dirs = directories.isEmpty ? try options.load().plugins.directories : directories.map {
                    URL(fileURLWithPath: $0).standardizedFileURL.path
                }
                let catalog = PluginCatalog.discover(in: dirs)
                print("Plugins in \(dirs.joined(separator: ", ")):")
                if catalog.plugins.isEmpty { print("  (none)") }
                for plugin in catalog.plugins {
                    print("  \(plugin.name.padded(to: 16)) \(plugin.version.padded(to: 8)) protocol \(plugin.protocolVersion)  \(plugin.folder)")
                    if !plugin.description.isEmpty { print("      \(plugin.description)") }
                }
                if !catalog.problems.isEmpty {
                    print("Problems:")
                    for problem in catalog.problems { print("  \(problem)") }
                }
            }
        }
    }

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a plugin on a source exactly as the daemon would and report what it would import.",
            discussion: """
                Nothing is written anywhere. Protocol errors, rejected records (with their
                reasons) and data-quality warnings are listed. Use --school to check the school
                binding as a configured source would; without it any well-formed URN is accepted.

                Exit status: 0 the daemon would import this, 1 the plugin failed (exit status,
                timeout), 65 its output breaks the protocol or too many records are rejected.
                """)

        @Argument(help: "The plugin's folder (holding plugin.toml).")
        var folder: String
        @Argument(help: "The file or folder the plugin should read.")
        var source: String
        @Option(help: "A URN the source is bound to (repeatable).")
        var school: [String] = []
        @Option(help: "Wall-clock limit in seconds.")
        var timeout = 600
        @Option(help: "Share of rejected records (0–1) that fails a run.")
        var maxRejected = 0.02
        @Option(help: "The sandbox to run it in, as plugins.sandbox sets it for the daemon: bwrap or none.")
        var sandbox: PluginSandbox.Mode = .bwrap
        @Option(name: .customLong("env"), help: ArgumentHelp("An environment variable for the plugin, as a source's env sets it (repeatable).", valueName: "KEY=VALUE"))
        var environment: [String] = []

        func validate() throws {
            for pair in environment where !pair.contains("=") {
                throw ValidationError("--env takes KEY=VALUE, got '\(pair)'")
            }
        }

        func run() async throws {
            try await reportingErrors {
                let manifest = try PluginManifest.load(folder: folder)
                let path = URL(fileURLWithPath: source).standardizedFileURL.path
                let extra = Dictionary(environment.map { pair -> (String, String) in
                    let parts = pair.split(separator: "=", maxSplits: 1)
                    return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
                }, uniquingKeysWith: { $1 })
                let report = await PluginCheck.run(
                    manifest, source: path, schools: school, environment: extra,
                    limits: PluginLimits(timeout: .seconds(timeout), sandbox: PluginSandbox(mode: sandbox)),
                    maxRejected: maxRejected)
                print("Plugin \(manifest.name) \(manifest.version) on \(path)")
                if let launch = report.launchError { print("Could not run it: \(launch)") }
                if let outcome = report.outcome {
                    print("Process: \(outcome.ending), \(outcome.lines) lines, \(outcome.stdoutBytes) bytes")
                }
                if let error = report.protocolError { print("Protocol error: \(error)") }
                print("Records (\(report.sourceKind)):")
                for type in report.sent.keys.sorted() {
                    print("  \(type.padded(to: 12)) sent \(report.sent[type] ?? 0), valid \(report.accepted[type] ?? 0)")
                }
                print("Rejected: \(report.rejectedCount)   Data-quality warnings: \(report.warningCount)")
                for rejection in report.rejections {
                    let ref = rejection.ref.map { " [\($0)]" } ?? ""
                    print("  line \(rejection.line) \(rejection.severity.rawValue): \(rejection.reason)\(ref)")
                }
                if let stderr = report.outcome?.standardError, !stderr.isEmpty {
                    print("stderr:")
                    stderr.split(separator: "\n").prefix(20).forEach { print("  \($0)") }
                }
                print(report.passes ? "OK: the daemon would import this." : "NOT OK: the daemon would not import this.")
                if !report.passes {
                    let pluginFailed = report.launchError != nil || report.outcome?.succeeded == false
                    throw ExitCode(pluginFailed ? ExitStatus.failed : ExitStatus.badInput)
                }
            }
        }
    }
}
