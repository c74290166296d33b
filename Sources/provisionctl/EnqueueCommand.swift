import ArgumentParser
import Foundation
import ProvisionApp
import ProvisionConfig
import ProvisionJobs

struct EnqueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enqueue",
        abstract: "Ask the running daemon(s) to import sources or evaluate schools now.",
        discussion: """
            Queues jobs in the database and wakes the daemons; a daemon runs each one once,
            with the usual retries, and `provisionctl status` shows how they went. A job
            already waiting for the same source or school is not queued twice.

              provisionctl enqueue --source fenland-ctf
              provisionctl enqueue --all-sources
              provisionctl enqueue --school 139001
            """)

    @OptionGroup var options: ConfigOption

    @Option(help: "A configured source to import (repeatable).")
    var source: [String] = []

    @Flag(help: "Every configured source.")
    var allSources = false

    @Option(help: "A configured school (URN) to evaluate (repeatable).")
    var school: [String] = []

    func validate() throws {
        if source.isEmpty && school.isEmpty && !allSources {
            throw ValidationError("Give --source NAME, --all-sources or --school URN.")
        }
    }

    func run() async throws {
        try await reportingErrors {
            let config = try options.load()
            let sources = try allSources ? config.sources : source.map { name in
                guard let configured = config.source(named: name) else {
                    throw UsageProblem("No source named '\(name)' is configured in \(config.file).")
                }
                return configured
            }
            for urn in school where config.school(urn: urn) == nil {
                throw UsageProblem("School \(urn) is not declared in \(config.file).")
            }
            let queue = JobQueue()
            try await withConnection(config, applicationName: "provisionctl-enqueue", migrated: true) { _, db in
                for source in sources {
                    let id = try await queue.enqueueImport(
                        db, source: source.name, schools: source.schools, reason: "provisionctl", maxAttempts: config.daemon.maxAttempts)
                    print(id.map { "import of \(source.name) queued as job \($0)" } ?? "import of \(source.name) is already waiting")
                }
                for urn in school {
                    let id = try await queue.enqueue(
                        db, kind: .evaluate, payload: ["school": urn, "reason": "provisionctl"],
                        uniqueKey: JobKind.evaluationKey(school: urn), maxAttempts: config.daemon.maxAttempts)
                    print(id.map { "evaluation of \(urn) queued as job \($0)" } ?? "evaluation of \(urn) is already waiting")
                }
            }
        }
    }
}
