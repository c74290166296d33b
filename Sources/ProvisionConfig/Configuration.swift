import Foundation
import ProvisionModel

/// The product's configuration (DESIGN §10), read from one TOML file and checked as a whole
/// before anything runs. `config/provision.example.toml` documents every key read here.
///
/// Relative paths are resolved against the folder of the configuration file, so a config
/// works the same whatever the current directory of the process that reads it.
public struct Configuration: Sendable {
    /// The trust the deployment serves (`[trust]`).
    public struct Trust: Sendable {
        /// The trust's name, as reports and mail show it.
        public var name: String
        /// The trust's SEND lead(s): receive the trust digest.
        public var sendLead: [String]
    }

    /// Where the data lives (`[database]`): an external server, or the embedded cluster.
    public struct Database: Sendable {
        /// libpq connection string; nil means the embedded cluster under `state.dir`.
        public var url: String?
        /// A file whose first line is the database password (never put it in the URL).
        public var passwordFile: String?
        /// Where initdb/pg_ctl are, for the embedded cluster; found automatically when nil.
        public var postgresBinDirectory: String?
    }

    /// Where importer plugins are found and how they are limited (`[plugins]`).
    public struct Plugins: Sendable {
        /// Folders searched for plugin folders (each with a `plugin.toml`).
        public var directories: [String]
        /// Wall-clock limit of one plugin run, unless a source sets its own.
        public var timeoutSeconds: Int
        /// Share of rejected records (0–1) above which a run fails.
        public var maxRejected: Double
        /// The most a plugin may write to stdout before it is killed.
        public var maxStdoutBytes: Int
        /// The most of a plugin's stderr kept (more is counted, not kept).
        public var maxStderrBytes: Int
        /// How plugins are isolated: `bwrap` (bubblewrap namespaces) or `none`.
        public var sandbox: SandboxMode = .bwrap
        /// The unprivileged account plugins run as when the supervisor runs as root;
        /// "dynamic" (the default) gives each run a fresh uid of its own.
        public var sandboxUser = "dynamic"
        /// Extra read-only paths a sandboxed plugin may see (an interpreter outside /usr).
        public var sandboxReadOnlyPaths: [String] = []
        /// Resource limits of one plugin run (setrlimit inside the sandbox).
        public var cpuSeconds = 600
        /// Address-space limit of a sandboxed plugin.
        public var memoryBytes = 4 << 30
        /// Largest file a sandboxed plugin may write.
        public var fileSizeBytes = 1 << 30
        /// Processes a sandboxed plugin may have at once.
        public var maxProcesses = 256
        /// Size of the sandbox's private scratch folder (a tmpfs).
        public var scratchBytes = 256 << 20
        /// Share (0–1) of a school's pupils on roll that one snapshot may mark as left
        /// before the run is refused (without `--force`).
        public var maxLeavers = 0.10
    }

    /// How importer plugins are isolated (docs/security.md).
    public enum SandboxMode: String, Sendable, CaseIterable {
        case bwrap, none
    }

    /// How mail leaves the daemon (`mail.transport`).
    public enum MailTransport: String, Sendable, CaseIterable {
        case maildir, sendmail, smtp
    }

    /// How the SMTP transport protects the conversation with its relay.
    public enum SMTPSecurity: String, Sendable, CaseIterable {
        /// Plain text: a relay on the same host or a trusted network (the local MTA).
        case none
        /// Plain text upgraded with STARTTLS before anything else is said; refused if the
        /// relay does not offer it (RFC 3207). Usually port 587.
        case starttls
        /// TLS from the first byte (RFC 8314 "implicit TLS"). Usually port 465.
        case tls
    }

    /// A user name and password for a relay that requires AUTH (RFC 4954).
    public struct SMTPCredentials: Sendable, Equatable {
        /// The user name AUTH sends.
        public var username: String
        /// The password, read from `smtp_password_file`.
        public var password: String
        /// Credentials of `username` with `password`.
        public init(username: String, password: String) {
            self.username = username
            self.password = password
        }
    }

    /// How alert mail is written and sent (`[mail]`).
    public struct Mail: Sendable {
        /// The transport messages are handed to.
        public var transport: MailTransport
        /// The From address of every message, optionally with a display name.
        public var from: String
        /// The sendmail program, for the `sendmail` transport.
        public var sendmailPath: String
        /// The relay's host, for the `smtp` transport.
        public var smtpHost: String
        /// The relay's port, for the `smtp` transport.
        public var smtpPort: Int
        /// How the conversation with the relay is protected (`smtp_security`).
        public var smtpSecurity: SMTPSecurity = .none
        /// PEM certificates the relay's certificate must chain to; nil: the system's store.
        public var smtpCAFile: String?
        /// Read from `smtp_password_file` when the configuration loads; never logged.
        public var smtpCredentials: SMTPCredentials?
        /// Where the maildir transport writes; `state.dir/mail` by default.
        public var maildir: String
        /// The digest templates; nil means the ones installed with the program.
        public var templatesDirectory: String?
        /// When SENCOs' digests go out: at most once a school day, at this local time
        /// (`daemon.time_zone`), as (hour, minute).
        public var digestTime = (hour: 7, minute: 30)
        /// The school days (1 = Sunday … 7 = Saturday, as Calendar counts them).
        public var digestWeekdays: Set<Int> = [2, 3, 4, 5, 6]
        /// Rules mailed to the SENCO as soon as their alert opens, not at digest time.
        public var immediateRules: Set<String> = ["ehcp_provision_not_delivered"]
        /// The most alerts one digest lists; the rest are counted, with where to see them.
        public var maxItems = 25
    }

    /// How long what the product writes about its own work is kept (`[retention]`): old
    /// evaluation runs, the bodies of sent mail (digests name pupils) and the rejected-record
    /// lists of import runs. Each in days; 0 keeps it for ever. Pupils' own data is the
    /// trust's, kept as its MIS says: none of this touches it.
    public struct Retention: Sendable, Equatable {
        /// Evaluation runs older than this are deleted with their flags and outcomes, all but
        /// the latest of the trust and of each school.
        public var evaluationRunsDays = 90
        /// Messages sent (or given up on) longer ago than this keep their recipients, subject
        /// and times, but their text is erased.
        public var sentMailDays = 30
        /// Import runs older than this lose their list of rejected records, except each
        /// source's latest run that read its input.
        public var rejectedRecordsDays = 90

        /// The shipped defaults.
        public init() {}
    }

    /// Where the reports the daemon writes can be reached by people (`[reports]`).
    public struct Reports: Sendable {
        /// A URL that serves `state.dir/reports` (a web server or the console); links in
        /// digests are built from it. Nil: digests name the folder and the command instead.
        public var urlBase: String?
    }

    /// Thresholds and windows of the evaluation (DESIGN §6), with its defaults.
    public struct Evaluation: Sendable, Equatable {
        /// An entry score may come from an assessment this many days before the start.
        public var entryWindowDays = 90
        /// An exit score may come from an assessment this many days after the end.
        public var exitWindowDays = 60
        /// Brooks' "modest impact" ratio gain that an effective reading-age intervention must clear.
        public var ratioGainThreshold = 1.4
        /// Fewer completed enrolments with entry and exit than this is "insufficient data".
        public var minimumN = 5
        /// No longer used (the growth model replaced the fixed stall window); still read so
        /// that older configurations load.
        public var stallWindowDays = 240
        /// No longer used, as `stallWindowDays`.
        public var stallMinimumPoints = 2
        /// Standard error of a standardised score whose test is not listed in `instruments`.
        public var standardisedError = 5.0
        /// An ended enrolment without exit data is flagged after this many days.
        public var missingExitDays = 14
        /// A new version of a pupil's plan not shared with their parents after this many
        /// days raises "parents not informed".
        public var parentsInformedDays = 14
        /// The smallest value added worth having: below it (with confidence) an intervention is
        /// "ineffective". Extra months of reading age per month, and standardised points.
        public var minimumWorthwhileRatePerMonth = 0.5
        /// The smallest value added worth having in standardised points (see above).
        public var minimumWorthwhilePoints = 2.0
        /// How much likelier "progress stopped" must be than "progress as before" (a
        /// likelihood ratio) before a pupil is flagged as stalled.
        public var stallEvidence = 10.0
        /// Measurement error, floor and ceiling of named instruments (publishers' figures),
        /// and of any other instrument by its measure.
        public var instruments: [String: InstrumentScale] = [
            "Salford": InstrumentScale(error: 4, floor: 48, ceiling: 190),
            "NGRT": InstrumentScale(error: 4.5, floor: 69, ceiling: 141),
            "PiRA": InstrumentScale(error: 4, floor: 69, ceiling: 141),
        ]
        /// Measurement error of an unlisted instrument by its measure (standardised scores use `standardisedError`).
        public var measureErrors: [String: Double] = ["age_months": 5, "scaled": 3, "raw": 2, "steps": 0.5]

        /// An instrument's error and limits: its own, else its measure's error without limits
        /// (`standardised_error` for standardised scores).
        public func scale(instrument: String, measure: String) -> InstrumentScale {
            instruments[instrument] ?? InstrumentScale(error: measure == "standardised" ? standardisedError : measureErrors[measure] ?? 1)
        }

        /// "Similar starting score" for the comparison with non-participants.
        public var peerBandAgeMonths = 6.0
        /// "Similar starting score" for standardised scores, in points.
        public var peerBandStandardised = 5.0

        /// The shipped defaults.
        public init() {}
    }

    /// How one assessment instrument's results are read: standard error of measurement, and
    /// the floor and ceiling beyond which a result is censored (not evidence).
    public struct InstrumentScale: Sendable, Equatable {
        /// Standard error of one result, in the instrument's unit.
        public var error: Double
        /// The lowest score the instrument can give, if it has one.
        public var floor: Double?
        /// The highest score the instrument can give, if it has one.
        public var ceiling: Double?

        /// A scale with the given error and limits.
        public init(error: Double, floor: Double? = nil, ceiling: Double? = nil) {
            self.error = error
            self.floor = floor
            self.ceiling = ceiling
        }
    }

    /// How `provisiond` runs (DESIGN §2): its schedule clock, workers, retries and endpoint.
    public struct Daemon: Sendable {
        /// The zone cron schedules are read in. Servers often run in UTC; schools do not.
        public var timeZone = TimeZone(identifier: "Europe/London") ?? .current
        /// Jobs this daemon runs at once.
        public var workers = 2
        /// Host and port of `/healthz` and `/metrics` (loopback only); nil turns them off.
        public var httpListen: (host: String, port: Int)? = ("127.0.0.1", 9464)
        /// The most database connections the HTTP endpoints hold at once (a bounded pool;
        /// further requests wait their turn).
        public var httpConnections = 4
        /// A watched source's export must have stopped changing for this long before its
        /// import is queued (a MIS writing a large file, or several files, in steps).
        public var watchSettleSeconds = 2.0
        /// How long a shutdown waits for running jobs before killing them.
        public var shutdownGraceSeconds = 30
        /// Attempts of one job before it is marked failed.
        public var maxAttempts = 5
        /// The first retry waits this long; each further one twice as long, up to the cap.
        public var retryBaseSeconds = 60
        /// The longest wait between two attempts of a job.
        public var retryMaxSeconds = 3600
        /// A running job whose worker has not been heard of for this long is run again.
        public var rescueAfterSeconds = 600
        /// After a school's evaluation, the trust-wide one (programmes across schools) waits
        /// this long, so the imports of a night share one.
        public var trustEvaluationDelaySeconds = 600

        /// The shipped defaults.
        public init() {}
    }

    /// One school of the trust (`[[schools]]`).
    public struct School: Sendable, Equatable {
        /// Unique Reference Number: six digits.
        public var urn: String
        /// The school's name, as reports and mail show it.
        public var name: String
        /// The addresses of the school's SENCOs, who receive its alerts.
        public var sencos: [String]
        /// The school's notional SEN budget for a year, in pounds, when the trust sets it.
        public var notionalSENBudget: Double? = nil
    }

    /// One MIS export the daemon imports (`[[sources]]`).
    public struct Source: Sendable, Equatable {
        /// The source's name, unique in the configuration.
        public var name: String
        /// The importer plugin that reads it.
        public var plugin: String
        /// The export's file or folder.
        public var path: String
        /// The URNs of the schools whose data the source may carry.
        public var schools: [String]
        /// When to import (in `daemon.time_zone`); nil means only on demand.
        public var schedule: CronSchedule?
        /// Import whenever the export changes: the daemon watches `path` (inotify on Linux)
        /// and queues an import once it has stopped changing (`daemon.watch_settle_seconds`).
        public var watch = false
        /// Extra environment for the plugin. Never secrets of ours: these are the source's own.
        public var environment: [String: String]
        /// Wall-clock limit of one run of the plugin on this source.
        public var timeoutSeconds: Int
        /// The share of records that may be rejected before the run is refused.
        public var maxRejected: Double

        /// A source with every setting given.
        public init(
            name: String, plugin: String, path: String, schools: [String], schedule: CronSchedule?,
            environment: [String: String], timeoutSeconds: Int, maxRejected: Double
        ) {
            self.name = name
            self.plugin = plugin
            self.path = path
            self.schools = schools
            self.schedule = schedule
            self.environment = environment
            self.timeoutSeconds = timeoutSeconds
            self.maxRejected = maxRejected
        }
    }

    /// The file this configuration was read from.
    public var file: String
    /// `[trust]`.
    public var trust: Trust
    /// `[database]`.
    public var database: Database
    /// Folder for the embedded cluster, maildir, reports and scratch space.
    public var stateDirectory: String
    /// `[plugins]`.
    public var plugins: Plugins
    /// `[mail]`.
    public var mail: Mail
    /// `[reports]`.
    public var reports = Reports(urlBase: nil)
    /// `[evaluation]`.
    public var evaluation: Evaluation
    /// `[console]`.
    public var console = Console()
    /// `[retention]`.
    public var retention = Retention()
    /// `[daemon]`.
    public var daemon: Daemon
    /// `[[schools]]`, in file order.
    public var schools: [School]
    /// `[[sources]]`, in file order.
    public var sources: [Source]

    /// The school with `urn`, if configured.
    public func school(urn: String) -> School? { schools.first { $0.urn == urn } }
    /// The source called `name`, if configured.
    public func source(named name: String) -> Source? { sources.first { $0.name == name } }

    /// Reads and checks the configuration file at `path`.
    ///
    /// - Throws: ``ConfigError`` naming the file, line and key of the first problem.
    public static func load(from path: String) throws(ConfigError) -> Configuration {
        let document = try TOMLDocument(contentsOf: path)
        let base = URL(fileURLWithPath: path).deletingLastPathComponent()
        return try parse(document, relativeTo: base)
    }

    /// Parses a document; relative paths are resolved against `base`.
    public static func parse(_ document: TOMLDocument, relativeTo base: URL) throws(ConfigError) -> Configuration {
        let root = document.root
        let basePath = base.standardizedFileURL.path
        func resolve(_ path: String) -> String { FilePaths.resolve(path, against: basePath) }

        guard let trustSection = try root.section("trust") else {
            throw root.error("trust", "is required: a [trust] table with the trust's name")
        }
        let trust = Trust(
            name: try trustSection.requiredString("name"),
            sendLead: try checkedAddresses(trustSection, "send_lead"))
        try trustSection.finish()

        var database = Database(url: nil, passwordFile: nil, postgresBinDirectory: nil)
        if let section = try root.section("database") {
            database.url = try section.string("url")
            if let url = database.url, url.trimmingCharacters(in: .whitespaces).isEmpty {
                throw section.error("url", "must not be empty; remove it to use the embedded database")
            }
            database.passwordFile = try section.string("password_file").map(resolve)
            database.postgresBinDirectory = try section.string("postgres_bin_dir").map(resolve)
            try section.finish()
        }

        var stateDirectory = resolve("var/provision")
        if let section = try root.section("state") {
            if let dir = try section.string("dir") { stateDirectory = resolve(dir) }
            try section.finish()
        }

        var plugins = Plugins(
            directories: [resolve("Plugins")], timeoutSeconds: 600, maxRejected: 0.02,
            maxStdoutBytes: 2 << 30, maxStderrBytes: 1 << 20)
        if let section = try root.section("plugins") {
            if let dirs = try section.stringArray("dirs") { plugins.directories = dirs.map(resolve) }
            plugins.timeoutSeconds = try section.int("timeout_seconds", range: 1...86_400) ?? plugins.timeoutSeconds
            plugins.maxRejected = try section.double("max_rejected", range: 0...1) ?? plugins.maxRejected
            plugins.maxStdoutBytes = try section.int("max_stdout_bytes", range: 1024...(1 << 40)) ?? plugins.maxStdoutBytes
            plugins.maxStderrBytes = try section.int("max_stderr_bytes", range: 1024...(1 << 30)) ?? plugins.maxStderrBytes
            if let mode = try section.string("sandbox") {
                guard let sandbox = SandboxMode(rawValue: mode) else {
                    throw section.error("sandbox", "must be 'bwrap' (the default) or 'none', got '\(mode)'")
                }
                plugins.sandbox = sandbox
            }
            if let user = try section.string("sandbox_user") {
                guard !user.isEmpty, user != "root" else {
                    throw section.error("sandbox_user", "must be \"dynamic\" or name an unprivileged system account such as 'nobody'")
                }
                plugins.sandboxUser = user
            }
            if let paths = try section.stringArray("sandbox_read_only") {
                for path in paths where !path.hasPrefix("/") {
                    throw section.error("sandbox_read_only", "'\(path)' must be an absolute path")
                }
                plugins.sandboxReadOnlyPaths = paths
            }
            plugins.cpuSeconds = try section.int("cpu_seconds", range: 1...604_800) ?? plugins.cpuSeconds
            plugins.memoryBytes = try section.int("memory_bytes", range: (64 << 20)...(1 << 44)) ?? plugins.memoryBytes
            plugins.fileSizeBytes = try section.int("file_size_bytes", range: (1 << 20)...(1 << 44)) ?? plugins.fileSizeBytes
            plugins.maxProcesses = try section.int("max_processes", range: 1...100_000) ?? plugins.maxProcesses
            plugins.scratchBytes = try section.int("scratch_bytes", range: (1 << 20)...(1 << 40)) ?? plugins.scratchBytes
            plugins.maxLeavers = try section.double("max_leavers", range: 0...1) ?? plugins.maxLeavers
            try section.finish()
        }

        var mail = Mail(
            transport: .maildir, from: "SEND Provision <send-provision@localhost>",
            sendmailPath: "/usr/sbin/sendmail", smtpHost: "localhost", smtpPort: 25,
            maildir: stateDirectory + "/mail")
        if let section = try root.section("mail") {
            if let name = try section.string("transport") {
                guard let transport = MailTransport(rawValue: name) else {
                    throw section.error(
                        "transport", "must be one of \(MailTransport.allCases.map(\.rawValue).joined(separator: ", ")), got '\(name)'")
                }
                mail.transport = transport
            }
            if let from = try section.string("from") {
                guard Addresses.isPlausible(from) else {
                    throw section.error("from", "must be an email address, optionally with a display name, got '\(from)'")
                }
                mail.from = from
            }
            mail.sendmailPath = try section.string("sendmail_path") ?? mail.sendmailPath
            mail.smtpHost = try section.string("smtp_host") ?? mail.smtpHost
            mail.smtpPort = try section.int("smtp_port", range: 1...65_535) ?? mail.smtpPort
            if let name = try section.string("smtp_security") {
                guard let security = SMTPSecurity(rawValue: name) else {
                    throw section.error(
                        "smtp_security", "must be one of \(SMTPSecurity.allCases.map(\.rawValue).joined(separator: ", ")), got '\(name)'")
                }
                mail.smtpSecurity = security
            }
            mail.smtpCAFile = try section.string("smtp_ca_file").map(resolve)
            if let file = mail.smtpCAFile, !FileManager.default.isReadableFile(atPath: file) {
                throw section.error("smtp_ca_file", "cannot read \(file)")
            }
            let username = try section.string("smtp_username")
            let passwordFile = try section.string("smtp_password_file").map(resolve)
            switch (username, passwordFile) {
            case (nil, nil): break
            case (.some, nil): throw section.error("smtp_username", "needs smtp_password_file, the file that holds the password")
            case (nil, .some): throw section.error("smtp_password_file", "needs smtp_username")
            case (let username?, let file?):
                // A password never crosses the network in clear text.
                guard mail.smtpSecurity != .none else {
                    throw section.error("smtp_username", "needs smtp_security = \"starttls\" or \"tls\": a password is never sent in clear text")
                }
                guard let contents = FileManager.default.contents(atPath: file) else {
                    throw section.error("smtp_password_file", "cannot read \(file)")
                }
                // One line; a trailing newline (as `echo` writes) is not part of the password.
                var password = String(decoding: contents, as: UTF8.self)
                while password.last?.isNewline == true { password.removeLast() }
                guard !password.isEmpty, !password.contains(where: \.isNewline) else {
                    throw section.error("smtp_password_file", "\(file) must hold the password on one line")
                }
                mail.smtpCredentials = SMTPCredentials(username: username, password: password)
            }
            mail.maildir = try section.string("maildir").map(resolve) ?? mail.maildir
            mail.templatesDirectory = try section.string("templates_dir").map(resolve)
            if let time = try section.string("digest_time") {
                let parts = time.split(separator: ":").compactMap { Int($0) }
                guard parts.count == 2, (0...23).contains(parts[0]), (0...59).contains(parts[1]) else {
                    throw section.error("digest_time", "must be a time of day HH:MM such as \"07:30\", got '\(time)'")
                }
                mail.digestTime = (parts[0], parts[1])
            }
            if let days = try section.stringArray("digest_days") {
                let names = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
                var weekdays: Set<Int> = []
                for day in days {
                    guard let index = names.firstIndex(of: day.lowercased()) else {
                        throw section.error("digest_days", "'\(day)' is not a day of the week (monday … sunday)")
                    }
                    weekdays.insert(index + 1)
                }
                mail.digestWeekdays = weekdays
            }
            if let rules = try section.stringArray("immediate_rules") {
                let known = Set(Codes.alertRules)
                for rule in rules where !known.contains(rule) {
                    throw section.error("immediate_rules", "'\(rule)' is not a rule; rules are \(known.sorted().joined(separator: ", "))")
                }
                mail.immediateRules = Set(rules)
            }
            mail.maxItems = try section.int("max_items", range: 1...1000) ?? mail.maxItems
            try section.finish()
        }

        var reports = Reports(urlBase: nil)
        if let section = try root.section("reports") {
            if let base = try section.string("url_base") {
                guard base.hasPrefix("https://") || base.hasPrefix("http://") else {
                    throw section.error("url_base", "must be an http(s) URL that serves state.dir/reports, got '\(base)'")
                }
                reports.urlBase = base.hasSuffix("/") ? String(base.dropLast()) : base
            }
            try section.finish()
        }

        var console = Console()
        if let section = try root.section("console") {
            console = try parseConsole(section, resolve: resolve)
        }

        var retention = Retention()
        if let section = try root.section("retention") {
            retention.evaluationRunsDays = try section.int("evaluation_runs_days", range: 0...3650) ?? retention.evaluationRunsDays
            retention.sentMailDays = try section.int("sent_mail_days", range: 0...3650) ?? retention.sentMailDays
            retention.rejectedRecordsDays = try section.int("rejected_records_days", range: 0...3650) ?? retention.rejectedRecordsDays
            try section.finish()
        }

        var evaluation = Evaluation()
        if let section = try root.section("evaluation") {
            evaluation.entryWindowDays = try section.int("entry_window_days", range: 0...365) ?? evaluation.entryWindowDays
            evaluation.exitWindowDays = try section.int("exit_window_days", range: 0...365) ?? evaluation.exitWindowDays
            evaluation.ratioGainThreshold = try section.double("ratio_gain_threshold", range: 0...10) ?? evaluation.ratioGainThreshold
            evaluation.minimumN = try section.int("minimum_n", range: 2...1000) ?? evaluation.minimumN
            evaluation.stallWindowDays = try section.int("stall_window_days", range: 30...730) ?? evaluation.stallWindowDays
            evaluation.stallMinimumPoints = try section.int("stall_minimum_points", range: 2...20) ?? evaluation.stallMinimumPoints
            evaluation.standardisedError = try section.double("standardised_error", range: 0...30) ?? evaluation.standardisedError
            evaluation.missingExitDays = try section.int("missing_exit_days", range: 0...365) ?? evaluation.missingExitDays
            evaluation.parentsInformedDays = try section.int("parents_informed_days", range: 0...365) ?? evaluation.parentsInformedDays
            evaluation.peerBandAgeMonths = try section.double("peer_band_age_months", range: 0...60) ?? evaluation.peerBandAgeMonths
            evaluation.peerBandStandardised = try section.double("peer_band_standardised", range: 0...30) ?? evaluation.peerBandStandardised
            evaluation.stallEvidence = try section.double("stall_evidence", range: 1...1_000_000) ?? evaluation.stallEvidence
            evaluation.minimumWorthwhileRatePerMonth =
                try section.double("minimum_worthwhile_months_per_month", range: 0...12) ?? evaluation.minimumWorthwhileRatePerMonth
            evaluation.minimumWorthwhilePoints =
                try section.double("minimum_worthwhile_points", range: 0...30) ?? evaluation.minimumWorthwhilePoints
            if let instruments = try section.section("instruments") {
                for name in instruments.keys.sorted() {
                    guard let table = try instruments.section(name) else { continue }
                    guard let error = try table.double("error", range: 0.001...1000) else {
                        throw table.error("error", "is required: the instrument's standard error of measurement")
                    }
                    evaluation.instruments[name] = InstrumentScale(
                        error: error, floor: try table.double("floor"), ceiling: try table.double("ceiling"))
                    try table.finish()
                }
                try instruments.finish()
            }
            try section.finish()
        }

        var daemon = Daemon()
        if let section = try root.section("daemon") {
            if let name = try section.string("time_zone") {
                guard let zone = TimeZone(identifier: name) else {
                    throw section.error("time_zone", "'\(name)' is not a time zone name such as 'Europe/London'")
                }
                daemon.timeZone = zone
            }
            daemon.workers = try section.int("workers", range: 1...16) ?? daemon.workers
            if let listen = try section.string("http_listen") {
                if listen.isEmpty {
                    daemon.httpListen = nil
                } else if let endpoint = LoopbackEndpoint.parse(listen) {
                    daemon.httpListen = endpoint
                } else {
                    throw section.error(
                        "http_listen",
                        "must be a loopback address and port such as '127.0.0.1:9464' or '[::1]:9464' (or \"\" for none), got '\(listen)'")
                }
            }
            daemon.httpConnections = try section.int("http_connections", range: 1...64) ?? daemon.httpConnections
            daemon.watchSettleSeconds = try section.double("watch_settle_seconds", range: 0.1...600) ?? daemon.watchSettleSeconds
            daemon.shutdownGraceSeconds = try section.int("shutdown_grace_seconds", range: 0...3600) ?? daemon.shutdownGraceSeconds
            daemon.maxAttempts = try section.int("max_attempts", range: 1...100) ?? daemon.maxAttempts
            daemon.retryBaseSeconds = try section.int("retry_base_seconds", range: 1...86_400) ?? daemon.retryBaseSeconds
            daemon.retryMaxSeconds = try section.int("retry_max_seconds", range: 1...604_800) ?? daemon.retryMaxSeconds
            guard daemon.retryMaxSeconds >= daemon.retryBaseSeconds else {
                throw section.error("retry_max_seconds", "must not be less than retry_base_seconds (\(daemon.retryBaseSeconds))")
            }
            daemon.rescueAfterSeconds = try section.int("rescue_after_seconds", range: 10...86_400) ?? daemon.rescueAfterSeconds
            daemon.trustEvaluationDelaySeconds =
                try section.int("trust_evaluation_delay_seconds", range: 0...86_400) ?? daemon.trustEvaluationDelaySeconds
            try section.finish()
        }

        var schools: [School] = []
        // Sets, not searches of the arrays: a deployment of 200 schools and 600 sources is
        // read by every `provisionctl` command.
        var declaredSchools: Set<String> = []
        for section in try root.sections("schools") {
            let urn = try section.requiredString("urn")
            guard URN.isValid(urn) else { throw section.error("urn", "must be a six-digit URN, got '\(urn)'") }
            guard declaredSchools.insert(urn).inserted else {
                throw section.error("urn", "school \(urn) is declared twice")
            }
            schools.append(
                School(
                    urn: urn, name: try section.requiredString("name"), sencos: try checkedAddresses(section, "sencos"),
                    notionalSENBudget: try section.double("notional_sen_budget", range: 0...100_000_000)))
            try section.finish()
        }

        var sources: [Source] = []
        var declaredSources: Set<String> = []
        var parsedSchedules: [String: CronSchedule] = [:]
        for section in try root.sections("sources") {
            let name = try section.requiredString("name")
            guard Names.isSlug(name) else {
                throw section.error("name", "must be lower-case letters, digits and '-', got '\(name)'")
            }
            guard declaredSources.insert(name).inserted else {
                throw section.error("name", "source '\(name)' is declared twice")
            }
            let plugin = try section.requiredString("plugin")
            let path = resolve(try section.requiredString("path"))
            guard let bound = try section.stringArray("schools"), !bound.isEmpty else {
                throw section.error("schools", "is required: the URNs of the schools this source is for")
            }
            for urn in bound where !declaredSchools.contains(urn) {
                throw section.error("schools", "names school \(urn), which is not declared in [[schools]]")
            }
            var schedule: CronSchedule?
            var watch = try section.bool("watch") ?? false
            if let expression = try section.string("schedule"), expression == "watch" {
                watch = true
            } else if let expression = try section.string("schedule") {
                do {
                    // Most sources share a handful of expressions; each is parsed once.
                    if let parsed = parsedSchedules[expression] {
                        schedule = parsed
                    } else {
                        schedule = try CronSchedule(expression)
                        parsedSchedules[expression] = schedule
                    }
                } catch {
                    throw section.error("schedule", "\(error.problem), got '\(expression)'")
                }
            }
            let environment = try section.stringTable("env") ?? [:]
            for key in environment.keys where !Names.isEnvironmentName(key) || Names.reservedEnvironment.contains(key) {
                throw section.error("env", "'\(key)' cannot be set for a plugin (reserved or not a valid variable name)")
            }
            sources.append(
                Source(
                    name: name, plugin: plugin, path: path, schools: bound, schedule: schedule,
                    environment: environment,
                    timeoutSeconds: try section.int("timeout_seconds", range: 1...86_400) ?? plugins.timeoutSeconds,
                    maxRejected: try section.double("max_rejected", range: 0...1) ?? plugins.maxRejected))
            sources[sources.count - 1].watch = watch
            try section.finish()
        }

        try root.finish()
        var configuration = Configuration(
            file: document.file, trust: trust, database: database, stateDirectory: stateDirectory,
            plugins: plugins, mail: mail, evaluation: evaluation, daemon: daemon, schools: schools, sources: sources)
        configuration.reports = reports
        configuration.console = console
        configuration.retention = retention
        return configuration
    }

    private static func checkedAddresses(_ section: TOMLSection, _ key: String) throws(ConfigError) -> [String] {
        let addresses = try section.stringArray(key) ?? []
        for address in addresses where !Addresses.isPlausible(address) {
            throw section.error(key, "'\(address)' is not an email address")
        }
        return addresses
    }
}

/// School Unique Reference Numbers.
public enum URN {
    /// Six digits (DfE URNs for open schools are 6 digits).
    public static func isValid(_ urn: String) -> Bool {
        urn.utf8.count == 6 && urn.utf8.allSatisfy { $0 >= 48 && $0 <= 57 }
    }
}

enum Names {
    static func isSlug(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 }
    }

    static func isEnvironmentName(_ name: String) -> Bool {
        guard let first = name.utf8.first, !(first >= 48 && first <= 57) else { return false }
        return name.utf8.allSatisfy { ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 95 }
    }

    /// Set by the supervisor itself; a source cannot override them.
    static let reservedEnvironment: Set<String> = ["PATH", "LANG", "TZ", "PROVISION_PROTOCOL", "PROVISION_SCHOOLS"]
}

/// A cheap plausibility check for addresses in config; the mailer does the real work.
public enum Addresses {
    /// True when `text` looks like an address (`a@b.c` or `Name <a@b.c>`) on one line.
    public static func isPlausible(_ text: String) -> Bool {
        var address = text.trimmingCharacters(in: .whitespaces)
        if let open = address.lastIndex(of: "<"), address.hasSuffix(">") {
            address = String(address[address.index(after: open)..<address.index(before: address.endIndex)])
        }
        if address.contains(where: { $0.isWhitespace || $0 == "\r" || $0 == "\n" || $0 == "<" || $0 == ">" }) {
            return false
        }
        let parts = address.split(separator: "@", omittingEmptySubsequences: false)
        return parts.count == 2 && !parts[0].isEmpty && !parts[1].isEmpty
    }
}

/// `host:port` on the loopback interface, where the daemon's operations endpoint may listen.
enum LoopbackEndpoint {
    static func parse(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65_535).contains(port)
        else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return isLoopback(host) ? (host, port) : nil
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || (host.hasPrefix("127.") && host.split(separator: ".").count == 4)
    }
}
