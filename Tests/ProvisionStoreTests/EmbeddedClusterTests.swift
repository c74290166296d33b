import Foundation
import Postgres
import ProvisionStore
import ProvisionTestSupport
import Testing

@Suite("embedded cluster")
struct EmbeddedClusterTests {
    @Test func startsReusesAndStops() async throws {
        let folder = try TestProcess.temporaryDirectory("cluster")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let root = folder + "/postgres"
        let cluster = try EmbeddedCluster(root: root, settings: ["fsync": "off", "shared_buffers": "160MB"])
        #expect(!cluster.isInitialised)
        #expect(try await cluster.start() == true)
        #expect(cluster.isInitialised)
        // Listening on the unix socket only.
        let db = try await PostgresConnection.connect(cluster.connectionString)
        #expect(try await db.query("SHOW listen_addresses").scalar(as: String.self) == "")
        // The settings given for a new cluster are its own.
        #expect(try await db.query("SHOW shared_buffers").scalar(as: String.self) == "160MB")
        await db.close()
        // A second user finds it running and does not own it.
        let again = try EmbeddedCluster(root: root)
        #expect(try await again.start() == false)
        try await cluster.stop()
        #expect(try await cluster.isRunning() == false)
        await #expect(throws: PostgresError.self) {
            _ = try await PostgresConnection.connect(cluster.connectionString)
        }
        // Restart reuses the initialised data.
        #expect(try await cluster.start() == true)
        try await cluster.stop()
    }

    /// An eighth of the machine's memory, no less than PostgreSQL's default, no more than 1 GB.
    @Test func sharedBuffersFollowTheMachinesMemory() {
        let gibibyte: UInt64 = 1 << 30
        #expect(EmbeddedCluster.sharedBuffers(physicalMemory: gibibyte / 2) == "128MB")
        #expect(EmbeddedCluster.sharedBuffers(physicalMemory: 2 * gibibyte) == "256MB")
        #expect(EmbeddedCluster.sharedBuffers(physicalMemory: 6 * gibibyte) == "768MB")
        #expect(EmbeddedCluster.sharedBuffers(physicalMemory: 24 * gibibyte) == "1024MB")
    }

    @Test func longStatePathsGetAShortSocketFolder() throws {
        let long = "/tmp/" + String(repeating: "deep-folder/", count: 10) + "postgres"
        let cluster = try EmbeddedCluster(root: long)
        #expect((cluster.socketDirectory + "/.s.PGSQL.5432").utf8.count <= 100)
    }
}

@Suite("provisionctl exit statuses")
struct CommandLineTests {
    let program = TestProcess.executable("provisionctl")

    @Test func misspeltKeyExits78NamingTheKey() async throws {
        let folder = try TestProcess.temporaryDirectory("cli")
        let config = try TestProcess.writeConfig(
            in: folder, databaseURL: "postgresql:///x", extra: "[plugins]\ntimeout_secnds = 5\n")
        let result = try await TestProcess.run(program, ["--config", config, "db", "migrate"])
        #expect(result.exitCode == 78)
        #expect(result.standardError.contains("key 'plugins.timeout_secnds'"))
        #expect(result.standardError.contains("provision.toml:11"))
    }

    @Test func unreachableDatabaseExits69() async throws {
        let folder = try TestProcess.temporaryDirectory("cli")
        let config = try TestProcess.writeConfig(
            in: folder, databaseURL: "postgresql:///nowhere?host=/nonexistent-socket&connect_timeout=2")
        let result = try await TestProcess.run(program, ["--config", config, "db", "status"])
        #expect(result.exitCode == 69)
        #expect(result.standardError.contains("database unavailable"))
    }

    @Test func usageErrorExits64() async throws {
        let result = try await TestProcess.run(program, ["db", "migrate", "--no-such-flag"])
        #expect(result.exitCode == 64)
    }

    @Test func embeddedDefaultMigratesAndStopsWhatItStarted() async throws {
        let folder = try TestProcess.temporaryDirectory("embedded")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let config = try TestProcess.writeConfig(in: folder, databaseURL: nil)
        let first = try await TestProcess.run(program, ["--config", config, "db", "migrate"])
        #expect(first.exitCode == 0, "\(first.standardError)")
        #expect(first.standardOutput.contains("Applied 0001 schema"))
        let cluster = try EmbeddedCluster(root: folder + "/state/postgres")
        #expect(try await cluster.isRunning() == false)
        let second = try await TestProcess.run(program, ["--config", config, "db", "migrate"])
        #expect(second.standardOutput.contains("Nothing to apply"))
        let status = try await TestProcess.run(program, ["--config", config, "db", "status"])
        #expect(status.standardOutput.contains("0001  schema"))
        #expect(status.standardOutput.contains("Up to date."))
    }
}

/// Only the product reaches the embedded cluster: no trust, no other users.
@Suite("embedded cluster authentication")
struct EmbeddedClusterAuthenticationTests {
    /// psql with a clean environment (no PGPASSWORD), optionally as another system user.
    func psql(_ conninfo: String, asUser user: String? = nil) async throws -> TestProcess.Result {
        var arguments = ["psql", "-X", "-w", "-d", conninfo, "-c", "SELECT 1"]
        if let user { arguments = ["runuser", "-u", user, "--"] + arguments }
        return try await TestProcess.run(
            "/usr/bin/env", arguments, environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"])
    }

    @Test func aConnectionWithoutThePasswordIsRefused() async throws {
        let cluster = try await TestPostgres.shared.server()
        let bare = "postgresql:///postgres?host=\(cluster.socketDirectory)&user=\(cluster.roleName)"
        let refused = try await psql(bare)
        #expect(refused.exitCode == 2)
        #expect(refused.standardError.contains("no password supplied") || refused.standardError.contains("password authentication failed"),
                "\(refused.standardError)")
        let wrong = try await psql(bare + "&password=guess")
        #expect(wrong.standardError.contains("password authentication failed"), "\(wrong.standardError)")
        let rules = try String(contentsOfFile: cluster.dataDirectory + "/pg_hba.conf", encoding: .utf8)
        #expect(!rules.split(separator: "\n").contains { !$0.hasPrefix("#") && $0.hasSuffix("trust") })
        // The password file is the product user's alone.
        let mode = try FileManager.default.attributesOfItem(atPath: cluster.passwordFile)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test func anotherSystemUserCannotConnectEvenWithTheSocketPath() async throws {
        guard geteuid() == 0, getpwnam("nobody") != nil else { return }
        let cluster = try await TestPostgres.shared.server()
        let result = try await psql(cluster.connectionString(database: "postgres"), asUser: "nobody")
        #expect(result.exitCode == 2, "\(result.standardOutput)")
        #expect(result.standardError.contains("Permission denied") || result.standardError.contains("password authentication failed"),
                "\(result.standardError)")
    }
}
