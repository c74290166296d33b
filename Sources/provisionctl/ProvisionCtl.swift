import ArgumentParser
import ProvisionApp

@main
struct ProvisionCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "provisionctl",
        abstract: "Administer SEND Provision: the database, imports, plugins and reports.",
        discussion: """
            Every command that touches data reads the configuration given with --config
            (default $PROVISION_CONFIG, else /etc/provision/provision.toml). Without
            database.url in it, a private PostgreSQL under state.dir is used and started
            as needed.

            Exit status: 0 success, 1 the work failed, 64 usage, 65 input data rejected,
            69 a service (database, MTA) unavailable, 78 bad configuration.
            """,
        subcommands: [DatabaseCommand.self, ImportCommand.self, PluginCommand.self, GenerateCommand.self, EvaluateCommand.self, AlertsCommand.self, MailCommand.self,
            StatusCommand.self, EnqueueCommand.self, ReportCommand.self, UserCommand.self])

    // Declared here too so `provisionctl --config FILE db migrate` parses; subcommands read it.
    @OptionGroup var options: ConfigOption
}
