import Foundation
import Postgres
import ProvisionModel

/// A private PostgreSQL cluster under the state directory, run with the system's
/// `initdb` and `pg_ctl`, listening on a unix socket only.
///
/// Used when no `database.url` is configured, and by the test suite. The cluster is
/// initialised the first time, reused when it is already running, and stopped only by whoever
/// started it. PostgreSQL refuses to run as root, so when we are root the server's files
/// belong to, and its processes run as, the `postgres` system user.
public struct EmbeddedCluster: Sendable {
    /// Errors starting or stopping the cluster; each says what to do.
    public struct Failure: Error, CustomStringConvertible, Sendable {
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
        var socket = root + "/run"
        // A unix socket path must fit in sun_path (108 bytes, with ".s.PGSQL.5432").
        if (socket + "/.s.PGSQL.5432").utf8.count > 100 {
            socket = "/tmp/provision-pg-" + String(StableHash.fnv1a(root), radix: 16)
        }
        socketDirectory = socket
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

    /// The libpq connection string for the product's database in this cluster.
    public var connectionString: String {
        "postgresql:///\(databaseName)?host=\(socketDirectory)&user=\(roleName)"
    }

    /// A connection string for another database in the same cluster.
    public func connectionString(database: String) -> String {
        "postgresql:///\(database)?host=\(socketDirectory)&user=\(roleName)"
    }

    /// Initialises the cluster if needed and starts it unless it is already running.
    ///
    /// - Returns: `true` when this call started the server (so the caller should stop it).
    @discardableResult
    public func start() async throws -> Bool {
        try await initialiseIfNeeded()
        try prepareSocketDirectory()
        if try await isRunning() {
            try await createDatabaseIfNeeded()
            return false
        }
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

    /// Whether a server is running on this data folder.
    public func isRunning() async throws -> Bool {
        guard FileManager.default.fileExists(atPath: dataDirectory + "/PG_VERSION") else { return false }
        let status = try await SystemCommand.run(
            binDirectory + "/pg_ctl", ["status", "-D", dataDirectory], asUser: serverUser)
        return status.exitCode == 0
    }

    /// Whether the data folder has been initialised.
    public var isInitialised: Bool {
        FileManager.default.fileExists(atPath: dataDirectory + "/PG_VERSION")
    }

    // MARK: Steps

    private func initialiseIfNeeded() async throws {
        if isInitialised { return }
        let files = FileManager.default
        try files.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        try restrictAndChown(dataDirectory)
        let initialised = try await SystemCommand.run(
            binDirectory + "/initdb",
            [
                "-D", dataDirectory, "-U", roleName, "--auth=trust", "--encoding=UTF8",
                "--locale=C", "--no-instructions",
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
    }

    private func prepareSocketDirectory() throws {
        try FileManager.default.createDirectory(atPath: socketDirectory, withIntermediateDirectories: true)
        try restrictAndChown(socketDirectory)
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

    private func restrictAndChown(_ path: String) throws {
        var attributes: [FileAttributeKey: Any] = [.posixPermissions: 0o700]
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
