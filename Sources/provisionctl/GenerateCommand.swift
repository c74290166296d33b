import ArgumentParser
import Foundation
import ProvisionApp
import ProvisionModel
import SampleTrust

struct GenerateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Write a synthetic trust: MIS exports, provision maps, a configuration and the truth.",
        discussion: """
            Per school: a CTF with pupils and SEN, termly assessment marksheets in the
            sims-assessments CSV layout, and the SENCO's provision-map CSV; then
            DIR/provision.toml binding them as sources (so `provisiond --config
            DIR/provision.toml --once` runs on it unchanged) and DIR/truth.json: which pupils
            truly stalled, each intervention's true effect, which enrolments lack exit data
            and which EHCP provision is not delivered. No real pupil data is involved.

            The same options, seed and --today give byte-identical output.
            """)

    @Flag(name: .shortAndLong, help: "No progress line, even at a terminal.")
    var quiet = false
    @Option(help: "The folder to write into (created; existing files are overwritten).")
    var out: String
    @Option(help: "How many schools (every fourth is a secondary).")
    var schools = 4
    @Option(help: "How many pupils across the trust.")
    var pupils = 2000
    @Option(help: "How many terms of history, ending with the current one.")
    var terms = 6
    @Option(help: "Random seed.")
    var seed: UInt64 = 1
    @Option(help: "The date the data runs up to (YYYY-MM-DD); default today.")
    var today: String?
    @Option(help: "The plugins folder the generated configuration points at; default the one found beside this program.")
    var pluginsDir: String?

    func validate() throws {
        guard (1...500).contains(schools) else { throw ValidationError("--schools must be 1 to 500") }
        guard pupils >= schools, pupils <= 2_000_000 else { throw ValidationError("--pupils must be at least --schools and at most 2,000,000") }
        guard (2...15).contains(terms) else { throw ValidationError("--terms must be 2 to 15") }
        if let today, SchoolDate(iso: today) == nil { throw ValidationError("--today must be a date YYYY-MM-DD") }
    }

    func run() async throws {
        try await reportingErrors {
            let day = today.flatMap(SchoolDate.init(iso:)) ?? SchoolDate.today()
            let plugins = pluginsDir.map { URL(fileURLWithPath: $0).standardizedFileURL.path } ?? Self.findPluginsFolder()
            let folder = URL(fileURLWithPath: out).standardizedFileURL.path
            let started = ContinuousClock.now
            let terminal = TerminalProgress(quiet: quiet)
            let written = try SampleTrust.generate(
                TrustOptions(schools: schools, pupils: pupils, terms: terms, seed: seed, today: day), out: folder,
                pluginsDirectory: plugins
            ) { done, total in
                // Schools are alike, so the time so far per step says what is left.
                let seconds = (ContinuousClock.now - started).seconds
                let left = done > 0 ? Int((seconds / Double(done) * Double(total - done)).rounded()) : 0
                let phase = done <= total / 2 ? "simulating" : "writing"
                terminal.show("generating: \(phase), \(done) of \(total) steps, about \(left) s left", force: done == total)
            }
            terminal.finish()
            let elapsed = ContinuousClock.now - started
            print("Wrote a sample trust of \(schools) schools and \(written.pupils) pupils (\(terms) terms up to \(day.iso)) to \(folder) in \(elapsed.formatted(.units(allowed: [.seconds], fractionalPart: .show(length: 1)))).")
            print("Run it: provisiond --config \(folder)/provision.toml --once")
        }
    }

    /// `Plugins/` found upwards from this executable (.build/release/provisionctl → repository).
    static func findPluginsFolder() -> String {
        var folder = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<6 {
            if FileManager.default.fileExists(atPath: folder.appendingPathComponent("Plugins/ctf/plugin.toml").path) {
                return folder.appendingPathComponent("Plugins").path
            }
            for share in ["share/provision/plugins"] where FileManager.default.fileExists(atPath: folder.appendingPathComponent(share).path) {
                return folder.appendingPathComponent(share).path
            }
            folder = folder.deletingLastPathComponent()
        }
        return "/usr/share/provision/plugins"
    }
}
