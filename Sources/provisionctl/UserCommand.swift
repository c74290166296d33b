import ArgumentParser
import Foundation
import ProvisionAccounts
import ProvisionApp
import ProvisionConfig

/// `provisionctl user`: the console's accounts (docs/console.md). Passwords are read from
/// standard input, never from the command line, where process listings would show them.
struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user",
        abstract: "Add, disable, reset and list console accounts; issue API tokens.",
        subcommands: [Add.self, Disable.self, Reset.self, List.self, Token.self])
    @OptionGroup var options: ConfigOption

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add an account.",
            discussion: """
                Roles: senco (their schools: give --school once per URN), send_lead (every school,
                the trust dashboard and the audit log), it_admin (sources, runs, jobs and mail; no
                pupil data). send_lead and it_admin sign in with a second factor (TOTP) unless
                --no-second-factor; SENCOs too when [console] require_second_factor = true.
                With --password-stdin the password is the first line of standard input;
                without it, a one-time password is made and printed: hand it over in person.
                """)
        @OptionGroup var options: ConfigOption
        @Argument(help: "The person's email address: they sign in with it.")
        var email: String
        @Option(help: "senco, send_lead or it_admin.")
        var role: String
        @Option(help: "A SENCO's school (URN); repeat for several.")
        var school: [String] = []
        @Flag(help: "Read the password from standard input.")
        var passwordStdin = false
        @Flag(help: "No second factor for this account (tests and trials only).")
        var noSecondFactor = false

        func run() async throws {
            try await reportingErrors {
                let config = try options.load()
                guard let role = Role(rawValue: role) else {
                    throw UsageProblem("--role must be senco, send_lead or it_admin, got '\(role)'")
                }
                for urn in school where config.school(urn: urn) == nil {
                    throw UsageProblem("school \(urn) is not in the configuration's [[schools]]")
                }
                let (password, generated) = try readPassword(passwordStdin)
                try await withConnection(config, applicationName: "provisionctl", migrated: true) { _, db in
                    let user = try await Accounts.add(
                        db, email: email, role: role, schools: school, password: password,
                        secondFactor: noSecondFactor ? false : nil, sencosNeedSecondFactor: config.console.requireSecondFactor)
                    print("added \(user.email) (\(user.role.rawValue)\(user.schools.isEmpty ? "" : ", schools \(user.schools.joined(separator: " "))"))"
                        + (user.secondFactorRequired ? "; a second factor is enrolled at first sign-in" : ""))
                    if generated { print("one-time password: \(password)") }
                }
            }
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Disable an account and end its sessions and API tokens.")
        @OptionGroup var options: ConfigOption
        @Argument(help: "The account's email address.")
        var email: String

        func run() async throws {
            try await reportingErrors {
                let config = try options.load()
                try await withConnection(config, applicationName: "provisionctl", migrated: true) { _, db in
                    try await Accounts.disable(db, email: email)
                    print("disabled \(email.lowercased())")
                }
            }
        }
    }

    struct Reset: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set a new password (enabling the account again) and end its sessions.")
        @OptionGroup var options: ConfigOption
        @Argument(help: "The account's email address.")
        var email: String
        @Flag(help: "Read the password from standard input; without it a one-time password is printed.")
        var passwordStdin = false
        @Flag(help: "Also remove the second factor (a lost phone): enrolled again at the next sign-in.")
        var secondFactor = false

        func run() async throws {
            try await reportingErrors {
                let config = try options.load()
                let (password, generated) = try readPassword(passwordStdin)
                try await withConnection(config, applicationName: "provisionctl", migrated: true) { _, db in
                    try await Accounts.resetPassword(db, email: email, password: password, clearSecondFactor: secondFactor)
                    print("reset \(email.lowercased())" + (secondFactor ? " and its second factor" : ""))
                    if generated { print("one-time password: \(password)") }
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the accounts.")
        @OptionGroup var options: ConfigOption

        func run() async throws {
            try await reportingErrors {
                let config = try options.load()
                try await withConnection(config, applicationName: "provisionctl", migrated: true) { _, db in
                    let users = try await Accounts.list(db)
                    print("\(users.count) account(s)")
                    for user in users {
                        let factor = user.secondFactorRequired ? (user.secondFactorEnrolled ? "2FA enrolled" : "2FA not yet enrolled") : "no 2FA"
                        let state = user.disabledAt == nil ? "enabled" : "disabled"
                        let schools = user.schools.isEmpty ? "" : " schools=\(user.schools.joined(separator: ","))"
                        print("  \(user.email) role=\(user.role.rawValue)\(schools) \(factor) \(state)")
                    }
                }
            }
        }
    }

    struct Token: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a new API token for an account, once (only its hash is kept).",
            discussion: "Send it as `Authorization: Bearer TOKEN` to /api/v1 (docs/api.md). Disabling the account revokes it.")
        @OptionGroup var options: ConfigOption
        @Argument(help: "The account's email address.")
        var email: String

        func run() async throws {
            try await reportingErrors {
                let config = try options.load()
                try await withConnection(config, applicationName: "provisionctl", migrated: true) { _, db in
                    print(try await Accounts.issueToken(db, email: email))
                }
            }
        }
    }
}

/// The first line of standard input, or a fresh one-time password.
private func readPassword(_ fromStandardInput: Bool) throws -> (String, generated: Bool) {
    guard fromStandardInput else { return (Secrets.readable(groups: 4), true) }
    guard let line = readLine(strippingNewline: true), !line.isEmpty else {
        throw UsageProblem("--password-stdin: standard input held no password")
    }
    return (line, false)
}

extension AccountError: ReportableError {
    public var exitStatus: Int32 { ExitStatus.badInput }
}
