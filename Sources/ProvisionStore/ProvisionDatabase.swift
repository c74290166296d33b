import Foundation
import Postgres
import ProvisionConfig

/// Where the product's data lives: the configured `database.url`, or the embedded cluster
/// under `state.dir` when there is none.
///
/// Open it once per process with ``open(_:)``; take connections with ``connect()``; call
/// ``shutdown()`` on the way out, which stops the embedded cluster only if this process
/// started it.
public final class ProvisionDatabase: Sendable {
    /// The libpq connection string (never printed: it may hold a user name and host).
    let conninfo: String
    let password: String?
    /// The embedded cluster, when one is used.
    public let cluster: EmbeddedCluster?
    /// True when this process started the embedded cluster and so must stop it.
    public let startedCluster: Bool

    private init(conninfo: String, password: String?, cluster: EmbeddedCluster?, startedCluster: Bool) {
        self.conninfo = conninfo
        self.password = password
        self.cluster = cluster
        self.startedCluster = startedCluster
    }

    /// Opens the configured database, starting the embedded cluster when needed.
    public static func open(_ config: Configuration) async throws -> ProvisionDatabase {
        var password: String?
        if let file = config.database.passwordFile {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw ConfigError(
                    file: config.file, key: "database.password_file",
                    message: "cannot read \(file); it must hold the password on its first line")
            }
            password = text.split(whereSeparator: \.isNewline).first.map(String.init)
        }
        if let url = config.database.url {
            try StateDirectory.prepare(config.stateDirectory, serverUser: nil)
            return ProvisionDatabase(conninfo: url, password: password, cluster: nil, startedCluster: false)
        }
        try StateDirectory.prepare(config.stateDirectory, serverUser: geteuid() == 0 ? "postgres" : nil)
        let cluster = try EmbeddedCluster(
            root: config.stateDirectory + "/postgres", binDirectory: config.database.postgresBinDirectory,
            settings: ["shared_buffers": EmbeddedCluster.sharedBuffers(physicalMemory: ProcessInfo.processInfo.physicalMemory)])
        let started = try await cluster.start()
        return ProvisionDatabase(
            conninfo: cluster.connectionString, password: nil, cluster: cluster, startedCluster: started)
    }

    /// Uses an existing database by connection string (tests, tools).
    public static func external(_ conninfo: String) -> ProvisionDatabase {
        ProvisionDatabase(conninfo: conninfo, password: nil, cluster: nil, startedCluster: false)
    }

    /// A new connection, owned by the caller, who closes it.
    public func connect(applicationName: String = "send-provision") async throws -> PostgresConnection {
        try await PostgresConnection.connect(conninfo, password: password, applicationName: applicationName)
    }

    /// Runs `body` with a new connection and closes it on every way out, a throw included,
    /// before returning: the session ends when the work does, not whenever a detached task
    /// gets round to it.
    public func withConnection<T>(
        applicationName: String = "send-provision", _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        let db = try await connect(applicationName: applicationName)
        do {
            let value = try await body(db)
            await db.close()
            return value
        } catch {
            await db.close()
            throw error
        }
    }

    /// A description safe to print: which kind of database, never credentials.
    public var summary: String {
        if let cluster { return "embedded PostgreSQL in \(cluster.dataDirectory)" }
        return "PostgreSQL at database.url"
    }

    /// Stops the embedded cluster if this process started it.
    public func shutdown() async {
        if startedCluster, let cluster { try? await cluster.stop() }
    }
}
