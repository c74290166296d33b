import ArgumentParser
import ProvisionAlerts
import ProvisionApp

struct MailCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mail", abstract: "Deliver the mail outbox.", subcommands: [Flush.self])
    @OptionGroup var options: ConfigOption

    struct Flush: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Deliver every pending message whose retry time has come, through mail.transport.",
            discussion: "Exit status 0 when nothing failed permanently (messages waiting to retry are not failures).")
        @OptionGroup var options: ConfigOption

        func run() async throws {
            try await reportingErrors {
                let config = try options.load()
                try await withConnection(config, applicationName: "provision-mailer", migrated: true) { _, db in
                    let result = try await Mailer(transport: Mailer.transport(for: config)).flush(db)
                    print("Mail: \(result.sent) sent, \(result.deferred) waiting to retry, \(result.failed) failed.")
                    if result.failed > 0 { throw ExitCode(ExitStatus.unavailable) }
                }
            }
        }
    }
}
