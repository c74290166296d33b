import Foundation
import ProvisionConfig
import Testing

@Suite("configuration")
struct ConfigurationTests {
    static let valid = """
        [trust]
        name = "Fen Learning Trust"
        send_lead = ["lead@fen.example"]

        [plugins]
        timeout_seconds = 30

        [[schools]]
        urn = "139001"
        name = "Fenland Primary"
        sencos = ["senco@fenland.example"]

        [[sources]]
        name = "fenland-ctf"
        plugin = "ctf"
        path = "drop/fenland"
        schools = ["139001"]
        schedule = "0 2 * * *"
        env = { PROFILE = "sims" }
        """

    func parse(_ text: String) throws(ConfigError) -> Configuration {
        let document = try TOMLDocument(text: text, file: "provision.toml")
        return try Configuration.parse(document, relativeTo: URL(fileURLWithPath: "/etc/provision"))
    }

    func problem(_ text: String) -> ConfigError? {
        do {
            _ = try parse(text)
            return nil
        } catch {
            return error
        }
    }

    @Test func readsAValidFileWithDefaults() throws {
        let config = try parse(Self.valid)
        #expect(config.trust.name == "Fen Learning Trust")
        #expect(config.database.url == nil)
        #expect(config.stateDirectory == "/etc/provision/var/provision")
        #expect(config.plugins.timeoutSeconds == 30)
        #expect(config.plugins.maxRejected == 0.02)
        #expect(config.mail.transport == .maildir)
        #expect(config.sources.first?.path == "/etc/provision/drop/fenland")
        #expect(config.sources.first?.timeoutSeconds == 30)
        #expect(config.sources.first?.environment == ["PROFILE": "sims"])
    }

    @Test func theShippedExampleIsValid() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let config = try Configuration.load(from: root.path + "/config/provision.example.toml")
        #expect(config.schools.count == 2)
        #expect(config.sources.first?.schedule?.expression == "0 2 * * *")
    }

    @Test func misspeltKeyIsNamedWithItsLineAndASuggestion() {
        let text = Self.valid.replacingOccurrences(of: "timeout_seconds = 30", with: "timeout_secnds = 30")
        let error = problem(text)
        #expect(error?.key == "plugins.timeout_secnds")
        #expect(error?.line == 6)
        #expect(error?.message.contains("did you mean 'timeout_seconds'") == true)
        #expect(error?.description.hasPrefix("provision.toml:6: key 'plugins.timeout_secnds'") == true)
    }

    @Test func unknownKeyInASecondArrayEntryPointsAtThatEntry() {
        let text = Self.valid + """

            [[sources]]
            name = "second"
            plugin = "ctf"
            path = "x"
            schools = ["139001"]
            shedule = "0 3 * * *"
            """
        let error = problem(text)
        #expect(error?.key == "sources[2].shedule")
        #expect(error?.line == 25)
    }

    @Test func missingRequiredKeyIsNamed() {
        let error = problem(Self.valid.replacingOccurrences(of: "name = \"Fen Learning Trust\"\n", with: ""))
        #expect(error?.key == "trust.name")
        #expect(error?.line == 1)
        #expect(error?.message.contains("required") == true)
        #expect(problem("[[schools]]\nurn = \"139001\"\nname = \"x\"")?.key == "trust")
    }

    @Test func badValuesAreRefusedWithTheReason() throws {
        #expect(problem(Self.valid.replacingOccurrences(of: "timeout_seconds = 30", with: "timeout_seconds = \"30\""))?.message.contains("whole number") == true)
        #expect(problem(Self.valid.replacingOccurrences(of: "timeout_seconds = 30", with: "timeout_seconds = 0"))?.message.contains("between 1 and 86400") == true)
        #expect(problem(Self.valid.replacingOccurrences(of: "urn = \"139001\"", with: "urn = \"13900\""))?.key == "schools[1].urn")
        #expect(problem(Self.valid.replacingOccurrences(of: "schools = [\"139001\"]", with: "schools = [\"139009\"]"))?.message.contains("not declared") == true)
        #expect(problem(Self.valid.replacingOccurrences(of: "0 2 * * *", with: "every night"))?.key == "sources[1].schedule")
        #expect(problem(Self.valid.replacingOccurrences(of: "PROFILE", with: "PATH"))?.key == "sources[1].env")
        #expect(problem(Self.valid + "\n[mail]\ntransport = \"pigeon\"")?.message.contains("maildir, sendmail, smtp") == true)
        #expect(problem(Self.valid + "\n[retention]\nsent_mail_days = 4000")?.key == "retention.sent_mail_days")
        #expect(problem(Self.valid + "\n[retention]\nevaluation_run_days = 30")?.message.contains("evaluation_runs_days") == true)
        #expect(try parse(Self.valid + "\n[retention]\nrejected_records_days = 0").retention.rejectedRecordsDays == 0)
        #expect(try parse(Self.valid).retention == Configuration.Retention())
        #expect(problem(Self.valid.replacingOccurrences(of: "senco@fenland.example", with: "senco at fenland"))?.key == "schools[1].sencos")
        #expect(problem(Self.valid.replacingOccurrences(of: "0 2 * * *", with: "0 25 * * *"))?.message.contains("hour field '25'") == true)
    }

    @Test func relativePathsAreResolvedAgainstTheFilesFolder() throws {
        func sourcePath(_ written: String) throws -> String? {
            try parse(Self.valid.replacingOccurrences(of: "path = \"drop/fenland\"", with: "path = \"\(written)\"")).sources.first?.path
        }
        #expect(try sourcePath("./drop//fenland/") == "/etc/provision/drop/fenland")
        #expect(try sourcePath("../drop/./fenland") == "/etc/drop/fenland")
        #expect(try sourcePath("../../../../drop") == "/drop")
        #expect(try sourcePath("/srv/drop/../fenland") == "/srv/drop/../fenland")
        #expect(try parse(Self.valid + "\n[state]\ndir = \"..\"").stateDirectory == "/etc")
    }

    @Test func namesDeclaredTwiceOrBlankAreRefused() {
        let school = "\n[[schools]]\nurn = \"139001\"\nname = \"Again\"\n"
        #expect(problem(Self.valid + school)?.key == "schools[2].urn")
        let source = "\n[[sources]]\nname = \"fenland-ctf\"\nplugin = \"ctf\"\npath = \"x\"\nschools = [\"139001\"]\n"
        #expect(problem(Self.valid + source)?.message.contains("declared twice") == true)
        #expect(problem(Self.valid.replacingOccurrences(of: "name = \"Fenland Primary\"", with: "name = \" \\t\\n\""))?.key == "schools[1].name")
    }

    @Test func smtpCredentialsNeedTLSAndAReadablePasswordFile() throws {
        let folder = NSTemporaryDirectory() + "/smtp-config-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try "s3cret word\n".write(toFile: folder + "/password", atomically: true, encoding: .utf8)
        let relay = "\n[mail]\ntransport = \"smtp\"\nsmtp_host = \"relay.fen.example\"\nsmtp_port = 587\n"
        let good = try parse(
            Self.valid + relay + "smtp_security = \"starttls\"\nsmtp_username = \"provision\"\nsmtp_password_file = \"\(folder)/password\"")
        #expect(good.mail.smtpSecurity == .starttls)
        // The newline `echo` leaves is not part of the password.
        #expect(good.mail.smtpCredentials == .init(username: "provision", password: "s3cret word"))
        let clear = problem(Self.valid + relay + "smtp_username = \"provision\"\nsmtp_password_file = \"\(folder)/password\"")
        #expect(clear?.key == "mail.smtp_username" && clear?.message.contains("never sent in clear text") == true, "\(String(describing: clear))")
        let unread = problem(
            Self.valid + relay + "smtp_security = \"tls\"\nsmtp_username = \"p\"\nsmtp_password_file = \"\(folder)/missing\"")
        #expect(unread?.message.contains("cannot read \(folder)/missing") == true, "\(String(describing: unread))")
        #expect(problem(Self.valid + relay + "smtp_security = \"tls\"\nsmtp_username = \"p\"")?.message.contains("needs smtp_password_file") == true)
        #expect(problem(Self.valid + relay + "smtp_security = \"ssl\"")?.message.contains("none, starttls, tls") == true)
    }

    @Test func aSourceCanBeWatchedAloneOrBesideItsSchedule() throws {
        let watched = try parse(Self.valid.replacingOccurrences(of: "schedule = \"0 2 * * *\"", with: "schedule = \"watch\""))
        #expect(watched.sources.first?.watch == true && watched.sources.first?.schedule == nil)
        let both = try parse(Self.valid.replacingOccurrences(of: "schedule = \"0 2 * * *\"", with: "schedule = \"0 2 * * *\"\nwatch = true"))
        #expect(both.sources.first?.watch == true && both.sources.first?.schedule?.expression == "0 2 * * *")
        #expect(try parse(Self.valid).sources.first?.watch == false)
        #expect(problem(Self.valid + "\n[daemon]\nwatch_settle_seconds = 0")?.key == "daemon.watch_settle_seconds")
    }

    @Test func daemonSettingsAreCheckedToo() throws {
        let daemon = try parse(Self.valid + "\n[daemon]\ntime_zone = \"Europe/Paris\"\nhttp_listen = \"[::1]:9100\"\nworkers = 4\n").daemon
        #expect(daemon.timeZone.identifier == "Europe/Paris")
        #expect(daemon.httpListen?.host == "::1" && daemon.httpListen?.port == 9100)
        #expect(daemon.workers == 4)
        #expect(try parse(Self.valid).daemon.timeZone.identifier == "Europe/London", "schools keep UK time whatever the server's zone")
        #expect(try parse(Self.valid + "\n[daemon]\nhttp_listen = \"\"\n").daemon.httpListen == nil)
        #expect(problem(Self.valid + "\n[daemon]\nhttp_listen = \"0.0.0.0:9464\"\n")?.message.contains("loopback") == true)
        #expect(problem(Self.valid + "\n[daemon]\ntime_zone = \"Europe/Londres\"\n")?.key == "daemon.time_zone")
        #expect(problem(Self.valid + "\n[daemon]\nretry_base_seconds = 600\nretry_max_seconds = 60\n")?.key == "daemon.retry_max_seconds")
    }

    @Test func invalidTOMLGivesTheLine() {
        let error = problem("[trust]\nname = \"unterminated\n")
        #expect(error?.line == 2)
        #expect(error?.message.contains("not valid TOML") == true)
    }

    @Test func missingFileIsAClearError() {
        #expect(throws: ConfigError.self) { try Configuration.load(from: "/nonexistent/provision.toml") }
    }
}
