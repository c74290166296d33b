import ArgumentParser
import ProvisionApp
import ProvisionStore

struct DatabaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db",
        abstract: "Create or upgrade the database schema, show its state, or apply [retention].",
        subcommands: [Migrate.self, Status.self, Prune.self])
    @OptionGroup var options: ConfigOption

    struct Migrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Apply pending schema migrations (safe to run at any time, from several hosts at once).")
        @OptionGroup var options: ConfigOption

        func run() async throws {
            try await reportingErrors {
                let config = try options.load()
                try await withConnection(config, applicationName: "provisionctl") { database, db in
                    let applied = try await Migrator().migrate(db)
                    print("Database: \(database.summary)")
                    if applied.isEmpty {
                        print("Nothing to apply: the schema is up to date (version \(Migration.all.last?.version ?? 0)).")
                    } else {
                        for migration in applied {
                            print("Applied \(String(format: "%04d", migration.version)) \(migration.name)")
                        }
                    }
                }
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the schema migrations and when each was applied.")
        @OptionGroup var options: ConfigOption

        func run() async throws {
            try await reportingErrors {
                let config = try options.load()
                try await withConnection(config, applicationName: "provisionctl") { database, db in
                    let states = try await Migrator().status(db)
                    print("Database: \(database.summary)")
                    for state in states {
                        let when = state.appliedAt.map { "applied \($0)" } ?? "pending"
                        print("\(String(format: "%04d", state.version))  \(state.name.padded(to: 24))  \(when)")
                    }
                    let pending = states.filter { $0.appliedAt == nil }.count
                    print(pending == 0 ? "Up to date." : "\(pending) pending: run `provisionctl db migrate`.")
                }
            }
        }
    }

    struct Prune: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete or erase what is older than [retention] allows: old evaluation runs, sent mail's text, old rejected records.",
            discussion: """
                The daemon does this after each trust-wide evaluation, and provisiond --once after its own. \
                The latest evaluation run of the trust and of each school are always kept.
                """)
        @OptionGroup var options: ConfigOption

        func run() async throws {
            try await reportingErrors {
                let config = try options.load()
                try await withConnection(config, applicationName: "provisionctl", migrated: true) { _, db in
                    let applied = try await Retention.apply(db, config.retention)
                    let kept = config.retention
                    print("Retention (days; 0 keeps for ever): evaluation runs \(kept.evaluationRunsDays), sent mail "
                        + "\(kept.sentMailDays), rejected records \(kept.rejectedRecordsDays).")
                    print(applied.isEmpty ? "Nothing was old enough: nothing deleted." : "Done: \(applied.summary).")
                }
            }
        }
    }
}
