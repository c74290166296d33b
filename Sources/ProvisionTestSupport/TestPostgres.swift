import Foundation
import Postgres
import ProvisionStore

/// The one PostgreSQL server of a test run.
///
/// The first test that asks starts a throw-away cluster (the system's initdb/pg_ctl, unix
/// socket in a temporary folder, fsync off) through the same ``EmbeddedCluster`` the product
/// uses; every test then gets a fresh database of its own with ``freshDatabase(_:)``. The
/// server is stopped when the test process exits.
public actor TestPostgres {
    /// The server of this test run.
    public static let shared = TestPostgres()

    private var cluster: EmbeddedCluster?
    private var starting: Task<EmbeddedCluster, any Error>?
    private var counter = 0

    /// The running cluster, started on first use.
    public func server() async throws -> EmbeddedCluster {
        if let cluster { return cluster }
        if let starting { return try await starting.value }
        let task = Task { () throws -> EmbeddedCluster in
            let root = NSTemporaryDirectory() + "provision-tests-\(getpid())"
            try? FileManager.default.removeItem(atPath: root)
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            // The postgres user must be able to reach the folder when the tests run as root.
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: root)
            // Every suite runs at once, many with a daemon's or a console's pool of their own:
            // sampled at 173 client connections here, and 200 ran out on a CI run.
            let cluster = try EmbeddedCluster(
                root: root, databaseName: "postgres",
                settings: ["fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
                           "max_connections": "500"])
            try await cluster.start()
            ClusterShutdown.register(cluster, folder: root)
            return cluster
        }
        starting = task
        let started = try await task.value
        cluster = started
        return started
    }

    /// Creates an empty database for one test and returns its connection string.
    ///
    /// - Parameter label: a short name that shows which test the database belongs to.
    public func freshDatabase(_ label: String = "test") async throws -> String {
        let cluster = try await server()
        counter += 1
        let cleaned = label.lowercased().filter { $0.isLetter || $0.isNumber }.prefix(30)
        let name = "t\(counter)_\(cleaned)"
        let admin = try await PostgresConnection.connect(cluster.connectionString(database: "postgres"))
        let quoted = try await admin.quotedIdentifier(name)
        try await admin.execute("CREATE DATABASE \(quoted)")
        await admin.close()
        return cluster.connectionString(database: name)
    }

    /// Opens a connection to a fresh database.
    public func freshConnection(_ label: String = "test") async throws -> (PostgresConnection, String) {
        let url = try await freshDatabase(label)
        return (try await PostgresConnection.connect(url), url)
    }
}

/// Stops the test cluster when the process exits, so no server outlives the test run.
enum ClusterShutdown {
    nonisolated(unsafe) static var command: [String] = []
    nonisolated(unsafe) static var folder = ""

    static func register(_ cluster: EmbeddedCluster, folder: String) {
        ClusterShutdown.folder = folder
        var argv = [cluster.binDirectory + "/pg_ctl", "stop", "-D", cluster.dataDirectory, "-m", "immediate", "-s"]
        if let user = cluster.serverUser { argv = ["/usr/sbin/runuser", "-u", user, "--"] + argv }
        command = argv
        atexit {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: ClusterShutdown.command[0])
            process.arguments = Array(ClusterShutdown.command.dropFirst())
            process.currentDirectoryURL = URL(fileURLWithPath: "/")
            try? process.run()
            process.waitUntilExit()
            try? FileManager.default.removeItem(atPath: ClusterShutdown.folder)
        }
    }
}
