import Foundation
import Postgres
import ProvisionModel

/// A private PostgreSQL cluster under the state directory, run with the system's
/// `initdb` and `pg_ctl`, listening on a unix socket only.
///
/// Only the product reaches it: every connection authenticates with SCRAM-SHA-256 and a
/// generated password kept in `pgpass` beside the data folder (mode 0600, the product
/// user's), never `trust`, so another local user — or a plugin — cannot connect even when
/// it can reach the socket. A cluster made by an older version with `trust` is switched to
/// SCRAM the next time it starts.
///
/// Used when no `database.url` is configured, and by the test suite. The cluster is
/// initialised the first time, reused when it is already running, and stopped only by whoever
/// started it. PostgreSQL refuses to run as root, so when we are root the server's files
/// belong to, and its processes run as, the `postgres` system user.
public struct EmbeddedCluster: Sendable {
    /// Errors starting or stopping the cluster; each says what to do.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        /// What went wrong and what to do about it.
        public let message: String
        public var description: String { message }
    }

    /// The cluster's data folder (`PGDATA`).
    public let dataDirectory: String
    /// Where the server's unix socket lives.
    public let socketDirectory: String
    /// The folder holding `initdb`, `pg_ctl` and `postgres`.
    public let binDirectory: String
    /// The database the product uses inside the cluster.
    public let databaseName: String
    /// The role the product connects as; created by initdb as the cluster's superuser.
    public let roleName = "provision"
    /// Extra `postgresql.conf` settings written at initialisation (tests turn fsync off).
    public let settings: [String: String]
    /// The system user that owns and runs the server when we are root.
    public let serverUser: String?
    /// The libpq password file (`*:*:*:provision:PASSWORD`, mode 0600) connections use.
    public let passwordFile: String

    /// - Parameters:
    ///   - root: the folder to keep the cluster in (`state.dir/postgres`).
    ///   - binDirectory: where the PostgreSQL server programs are; found when `nil`.
    ///   - databaseName: the database to create and connect to.
    ///   - settings: extra server settings for a new cluster.
    public init(
        root: String, binDirectory: String? = nil, databaseName: String = "provision",
        settings: [String: String] = [:]
    ) throws {
        let root = URL(fileURLWithPath: root).standardizedFileURL.path
        dataDirectory = root + "/data"
        passwordFile = root + "/pgpass"
        socketDirectory = try Self.socketDirectory(root: root)
        guard let bin = binDirectory ?? Self.findBinDirectory() else {
            throw Failure(
                message: """
                    PostgreSQL's server programs (initdb, pg_ctl) were not found under /usr/lib/postgresql.
                    Install them with: apt-get update && apt-get install -y postgresql
                    or set database.postgres_bin_dir, or set database.url to use an existing server.
                    """)
        }
        self.binDirectory = bin
        self.databaseName = databaseName
        self.settings = settings
        self.serverUser = geteuid() == 0 ? "postgres" : nil
    }

    /// The libpq connection string for the product's database in this cluster. It carries
    /// the password itself (read from `pgpass`), so a `PGPASSWORD` in the environment cannot
    /// override it; it is held in memory only and never printed.
    public var connectionString: String { connectionString(database: databaseName) }

    /// A connection string for another database in the same cluster.
    public func connectionString(database: String) -> String {
        func encoded(_ text: String) -> String {
            text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "/-_.~"))) ?? text
        }
        let credential = storedPassword.map { "&password=\(encoded($0))" } ?? "&passfile=\(encoded(passwordFile))"
        return "postgresql:///\(encoded(database))?host=\(encoded(socketDirectory))&user=\(roleName)" + credential
    }

    /// The password in `pgpass`, once the cluster has one.
    public var storedPassword: String? {
        guard let text = try? String(contentsOfFile: passwordFile, encoding: .utf8),
            let line = text.split(whereSeparator: \.isNewline).first,
            let password = line.split(separator: ":", omittingEmptySubsequences: false).last, password.count >= 16
        else { return nil }
        return String(password)
    }

    /// The socket folder: `root/run`, or, when that path is too long for a unix socket, a
    /// folder under /tmp with a random name chosen once and kept in `root/socket-folder`
    /// (so another local user cannot guess it and plant a folder or link there first).
    private static func socketDirectory(root: String) throws -> String {
        let preferred = root + "/run"
        // A unix socket path must fit in sun_path (108 bytes, with ".s.PGSQL.5432").
        if (preferred + "/.s.PGSQL.5432").utf8.count <= 100 { return preferred }
        let record = root + "/socket-folder"
        if let kept = try? String(contentsOfFile: record, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
            kept.hasPrefix("/tmp/provision-pg-")
        {
            return kept
        }
        var generator = SystemRandomNumberGenerator()
        let name = "/tmp/provision-pg-" + (0..<4).map { _ in String(generator.next() as UInt32, radix: 36) }.joined()
        do {
            try PrivateFiles.createFolder(root, mode: 0o755)
            try PrivateFiles.write(Array(name.utf8), to: record)
        } catch {
            throw Failure(message: "cannot record the socket folder of the embedded PostgreSQL: \(error)")
        }
        return name
    }

    /// Initialises the cluster if needed and starts it unless it is already running.
    ///
    /// - Returns: `true` when this call started the server (so the caller should stop it).
    @discardableResult
    public func start() async throws -> Bool {
        let password = try ensurePasswordFile()
        try prepareSocketDirectory()
        try await initialiseIfNeeded(password: password)
        if try await isRunning() {
            try await createDatabaseIfNeeded()
            return false
        }
        try await replaceTrustAuthentication(password: password)
        let log = URL(fileURLWithPath: dataDirectory).deletingLastPathComponent().path + "/server.log"
        try ensureFile(log)
        let started = try await SystemCommand.run(
            binDirectory + "/pg_ctl", ["start", "-D", dataDirectory, "-l", log, "-w", "-t", "60", "-s"],
            asUser: serverUser)
        guard started.succeeded else {
            // Another process may have started it at the same moment; that is fine.
            if try await isRunning() {
                try await createDatabaseIfNeeded()
                return false
            }
            let tail = (try? String(contentsOfFile: log, encoding: .utf8))?
                .split(separator: "\n").suffix(8).joined(separator: "\n") ?? ""
            throw Failure(
                message: "The embedded PostgreSQL did not start (\(dataDirectory)).\n"
                    + started.standardError + tail + "\nSee \(log).")
        }
        try await createDatabaseIfNeeded()
        return true
    }

    /// Stops the server, waiting for it to finish (fast shutdown: sessions are ended,
    /// open transactions roll back).
    public func stop() async throws {
        guard try await isRunning() else { return }
        let stopped = try await SystemCommand.run(
            binDirectory + "/pg_ctl", ["stop", "-D", dataDirectory, "-m", "fast", "-w", "-t", "60", "-s"],
            asUser: serverUser)
        guard stopped.succeeded else {
            throw Failure(message: "pg_ctl stop failed for \(dataDirectory): \(stopped.standardError)")
        }
    }

    /// Whether a server is running on this data folder: as `pg_ctl status` tells, from the
    /// server's pid file and whether that process is alive, without starting `pg_ctl` as the
    /// server's user (through `runuser`, that took 80 ms of every command's start).
    public func isRunning() async throws -> Bool {
        guard isInitialised,
              let file = try? String(contentsOfFile: dataDirectory + "/postmaster.pid", encoding: .utf8),
              let line = file.split(separator: "\n").first, let pid = pid_t(line.trimmingCharacters(in: .whitespaces)), pid > 0,
              pid != getpid(), pid != getppid()
        else { return false }
        // A process that exists but is not ours to signal (EPERM) is alive too.
        return kill(pid, 0) == 0 || errno == EPERM
    }

    /// Whether the data folder has been initialised.
    public var isInitialised: Bool {
        FileManager.default.fileExists(atPath: dataDirectory + "/PG_VERSION")
    }

    // MARK: Steps

    /// The cluster's password, from `pgpass`, made (with a fresh random password) when missing.
    private func ensurePasswordFile() throws -> String {
        if let password = storedPassword { return password }
        var generator = SystemRandomNumberGenerator()
        let password = (0..<4).map { _ in String(generator.next() as UInt64, radix: 16) }.joined()
        do {
            try PrivateFiles.createFolder((passwordFile as NSString).deletingLastPathComponent, mode: 0o755)
            try PrivateFiles.write(Array("*:*:*:\(roleName):\(password)\n".utf8), to: passwordFile)
        } catch {
            throw Failure(message: "cannot write the embedded PostgreSQL's password file: \(error)")
        }
        return password
    }

    /// The authentication rules: the local socket only, with the password. Nothing else.
    private static let hostBasedAuthentication = """
        # Written by SEND Provision: local socket connections only, each with the generated
        # password in the pgpass file beside the data folder. Never 'trust'.
        local all all scram-sha-256

        """

    /// Switches a cluster initialised with `trust` by an older version to SCRAM: sets the
    /// role's password while trust still lets us in, then replaces pg_hba.conf.
    private func replaceTrustAuthentication(password: String) async throws {
        let hba = dataDirectory + "/pg_hba.conf"
        guard let rules = try? String(contentsOfFile: hba, encoding: .utf8) else { return }
        let trusts = rules.split(whereSeparator: \.isNewline).contains { line in
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            return words.first?.hasPrefix("#") == false && words.last == "trust"
        }
        guard trusts else { return }
        let log = URL(fileURLWithPath: dataDirectory).deletingLastPathComponent().path + "/server.log"
        try ensureFile(log)
        let started = try await SystemCommand.run(
            binDirectory + "/pg_ctl", ["start", "-D", dataDirectory, "-l", log, "-w", "-t", "60", "-s"], asUser: serverUser)
        guard started.succeeded else {
            throw Failure(
                message: "The embedded PostgreSQL did not start (\(dataDirectory)) to replace trust authentication.\n"
                    + started.standardError)
        }
        let admin = try await connectWithRetry("postgresql:///postgres?host=\(socketDirectory)&user=\(roleName)")
        // The password is our own hex digits, so quoting it as a literal is exact.
        try await admin.execute("ALTER ROLE \(roleName) PASSWORD '\(password)'")
        await admin.close()
        try Self.hostBasedAuthentication.write(toFile: hba, atomically: true, encoding: .utf8)
        try restrictAndChown(hba, mode: 0o600)
        let stopped = try await SystemCommand.run(
            binDirectory + "/pg_ctl", ["stop", "-D", dataDirectory, "-m", "fast", "-w", "-t", "60", "-s"], asUser: serverUser)
        guard stopped.succeeded else {
            throw Failure(message: "pg_ctl stop failed for \(dataDirectory): \(stopped.standardError)")
        }
    }

    private func initialiseIfNeeded(password: String) async throws {
        if isInitialised { return }
        let files = FileManager.default
        try files.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        try restrictAndChown(dataDirectory)
        // The superuser's password goes to initdb in a private file (never on a command
        // line), readable by the server's user alone and removed straight after.
        let passwordHandover = URL(fileURLWithPath: dataDirectory).deletingLastPathComponent().path + "/initdb-password"
        try PrivateFiles.write(Array((password + "\n").utf8), to: passwordHandover)
        defer { unlink(passwordHandover) }
        try restrictAndChown(passwordHandover, mode: 0o600)
        let initialised = try await SystemCommand.run(
            binDirectory + "/initdb",
            [
                "-D", dataDirectory, "-U", roleName, "--auth=scram-sha-256", "--pwfile=\(passwordHandover)",
                "--encoding=UTF8", "--locale=C", "--no-instructions",
            ], asUser: serverUser)
        guard initialised.succeeded else {
            var message = "initdb failed for \(dataDirectory):\n\(initialised.standardError)"
            if serverUser != nil {
                message += "\nAs root the cluster runs as the postgres user, which must be able to"
                    + " reach every folder above \(dataDirectory). Choose a state.dir it can reach."
            }
            throw Failure(message: message)
        }
        var conf = "\n# Written by SEND Provision: unix socket only, in a private folder.\n"
        conf += "listen_addresses = ''\n"
        conf += "unix_socket_directories = '\(socketDirectory)'\n"
        conf += "unix_socket_permissions = 0700\n"
        for (key, value) in settings.sorted(by: { $0.key < $1.key }) {
            conf += "\(key) = \(value)\n"
        }
        let confPath = dataDirectory + "/postgresql.conf"
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: confPath))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(conf.utf8))
        try handle.close()
        let hba = dataDirectory + "/pg_hba.conf"
        try Self.hostBasedAuthentication.write(toFile: hba, atomically: true, encoding: .utf8)
        try restrictAndChown(hba, mode: 0o600)
    }

    /// `shared_buffers` for a new cluster on a machine with `physicalMemory` bytes: an eighth
    /// of it, between PostgreSQL's default of 128 MB and 1 GB, in whole megabytes.
    ///
    /// At the default, a first import of a million records wrote out and read back the
    /// pages it had just filled (the tables and their indexes outgrow 128 MB): with 1 GB the
    /// benchmark's first runs took 9.00 s against 9.45 s (three alternated runs each), the
    /// unchanged re-runs no longer. Written into `postgresql.conf` when the cluster is made,
    /// where an administrator can change it; a cluster made before keeps its setting.
    public static func sharedBuffers(physicalMemory: UInt64) -> String {
        let megabytes = physicalMemory / 8 / (1 << 20)
        return "\(min(max(megabytes, 128), 1024))MB"
    }

    /// Creates the socket folder, or checks the one that is there: a real folder (not a
    /// link) owned by us or the server's user. Ownership is changed without following links.
    private func prepareSocketDirectory() throws {
        let path = socketDirectory
        let parent = (path as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        if mkdir(path, 0o700) != 0 && errno != EEXIST {
            throw Failure(message: "cannot create the socket folder \(path): \(String(cString: strerror(errno)))")
        }
        var status = stat()
        guard lstat(path, &status) == 0, status.st_mode & S_IFMT == S_IFDIR else {
            throw Failure(message: "the socket folder \(path) is not a folder (a link or a file?); remove it and start again")
        }
        let server = serverUser.flatMap { getpwnam($0)?.pointee }
        let allowed: Set<uid_t> = [geteuid(), server?.pw_uid ?? geteuid()]
        guard allowed.contains(status.st_uid) else {
            throw Failure(message: "the socket folder \(path) belongs to another user (uid \(status.st_uid)); refusing to use it")
        }
        if let server, lchown(path, server.pw_uid, server.pw_gid) != 0 {
            throw Failure(message: "cannot hand the socket folder \(path) to the server's user: \(String(cString: strerror(errno)))")
        }
        guard chmod(path, 0o700) == 0 else {
            throw Failure(message: "cannot restrict the socket folder \(path): \(String(cString: strerror(errno)))")
        }
    }

    private func createDatabaseIfNeeded() async throws {
        let admin = try await connectWithRetry(connectionString(database: "postgres"))
        let exists = try await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", databaseName)
        if exists.rows.isEmpty {
            let name = try await admin.quotedIdentifier(databaseName)
            do {
                try await admin.execute("CREATE DATABASE \(name)")
            } catch let error as PostgresError where error.sqlState == SQLState.duplicateDatabase
                || error.sqlState == SQLState.uniqueViolation
            {
                // Created by a concurrent start.
            }
        }
        await admin.close()
    }

    private func connectWithRetry(_ conninfo: String) async throws -> PostgresConnection {
        var lastError: (any Error)?
        for _ in 0..<50 {
            do {
                return try await PostgresConnection.connect(conninfo)
            } catch {
                lastError = error
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        throw lastError ?? Failure(message: "could not connect to the embedded PostgreSQL")
    }

    private func restrictAndChown(_ path: String, mode: Int = 0o700) throws {
        var attributes: [FileAttributeKey: Any] = [.posixPermissions: mode]
        if let serverUser, let entry = getpwnam(serverUser) {
            attributes[.ownerAccountID] = NSNumber(value: entry.pointee.pw_uid)
            attributes[.groupOwnerAccountID] = NSNumber(value: entry.pointee.pw_gid)
        } else if serverUser != nil {
            throw Failure(
                message: "Running as root, but there is no 'postgres' system user to run the embedded "
                    + "PostgreSQL. Install the postgresql package, which creates it.")
        }
        try FileManager.default.setAttributes(attributes, ofItemAtPath: path)
    }

    private func ensureFile(_ path: String) throws {
        if !FileManager.default.fileExists(atPath: path) {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
        }
        var attributes: [FileAttributeKey: Any] = [.posixPermissions: 0o600]
        if let serverUser, let entry = getpwnam(serverUser) {
            attributes[.ownerAccountID] = NSNumber(value: entry.pointee.pw_uid)
        }
        try FileManager.default.setAttributes(attributes, ofItemAtPath: path)
    }

    /// The newest `/usr/lib/postgresql/N/bin` with initdb, else the folder of `initdb` on PATH.
    static func findBinDirectory() -> String? {
        let files = FileManager.default
        let base = "/usr/lib/postgresql"
        let versions = ((try? files.contentsOfDirectory(atPath: base)) ?? [])
            .compactMap { Int($0) }.sorted(by: >)
        for version in versions where files.isExecutableFile(atPath: "\(base)/\(version)/bin/initdb") {
            return "\(base)/\(version)/bin"
        }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for folder in path.split(separator: ":")
        where files.isExecutableFile(atPath: "\(folder)/initdb") && files.isExecutableFile(atPath: "\(folder)/pg_ctl") {
            return String(folder)
        }
        return nil
    }
}
