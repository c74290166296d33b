import ArgumentParser
import ProvisionAlerts
import ProvisionApp

struct MailCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mail", abstract: "Deliver the mail outbox.", subcommands: [Flush.self])
    @OptionGroup var options: ConfigOption

    struct Flush: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Queue the digests waiting for digest time, then deliver every pending message whose retry time has come.",
            discussion: """
                As if it were digest time: each school's digest of alerts not yet mailed, and the
                trust lead's, are written now rather than at mail.digest_time. Exit status 0 when
                nothing failed permanently (messages waiting to retry are not failures).
                """)
        @OptionGroup var options: ConfigOption

        func run() async throws {
            try await reportingErrors {
                let config = try options.load()
                try await withConnection(config, applicationName: "provision-mailer", migrated: true) { _, db in
                    let templates = try await DigestTemplates.load(config)
                    let digests = try await db.transaction { db in
                        try await Digests.queueDue(db, config: config, templates: templates, asIfDigestTime: true)
                    }
                    if digests > 0 { print("Digests: \(digests) queued.") }
                    let result = try await Mailer(transport: Mailer.transport(for: config)).flush(db)
                    print("Mail: \(result.sent) sent, \(result.deferred) waiting to retry, \(result.failed) failed.")
                    if result.failed > 0 { throw ExitCode(ExitStatus.unavailable) }
                }
            }
        }
    }
}
