import Foundation
import Postgres
import ProvisionImport
import ProvisionModel
import ProvisionStore
import ProvisionTestSupport

/// A plugin folder whose executable is a shell script, usually `cat "$2"` plus a misbehaviour.
struct TestPlugin {
    let folder: String
    let manifest: PluginManifest

    /// - Parameters:
    ///   - body: the script after the shebang; for the shell, `$2` is the source path.
    ///   - interpreter: the shebang's program, e.g. `/usr/bin/python3` for a plugin written
    ///     as IT staff might write one; `program` names the script.
    static func make(
        in parent: String, name: String = "fixture", interpreter: String = "/bin/sh", program: String = "run.sh",
        body: String
    ) throws -> TestPlugin {
        let folder = parent + "/" + name
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try """
            name = "\(name)"
            version = "0.1.0"
            protocol = 1
            description = "test fixture"
            exec = "\(program)"
            accepts = ["*.ndjson"]
            """.write(toFile: folder + "/plugin.toml", atomically: true, encoding: .utf8)
        try ("#!\(interpreter)\n" + body + "\n").write(toFile: folder + "/" + program, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: folder + "/" + program)
        return TestPlugin(folder: folder, manifest: try PluginManifest.load(folder: folder))
    }
}

/// A migrated database with two schools, a scratch folder and a pipeline.
struct ImportHarness {
    let folder: String
    let url: String
    let database: ProvisionDatabase
    var pipeline: ImportPipeline

    static func make(_ label: String) async throws -> ImportHarness {
        let folder = try TestProcess.temporaryDirectory(label)
        let url = try await TestPostgres.shared.freshDatabase(label)
        let db = try await PostgresConnection.connect(url)
        try await Migrator().migrate(db)
        await db.close()
        let database = ProvisionDatabase.external(url)
        return ImportHarness(
            folder: folder, url: url, database: database,
            pipeline: ImportPipeline(database: database, stateDirectory: folder))
    }

    /// Writes `lines` as the source file and returns its path.
    func source(_ lines: [String], name: String = "input.ndjson") throws -> String {
        let path = folder + "/" + name
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The wall-clock limit is minutes by default: a test that means to time a plugin out
    /// gives its own, and one that means it to finish must not fail because the test run
    /// keeps both cores busy (five megabytes of stderr are 80 reads of a full pipe, each
    /// waiting for a thread of that busy pool).
    func request(
        _ plugin: TestPlugin, source: String, schools: [String] = [ProtocolFixture.school], timeout: Duration = .seconds(300),
        maxStdout: Int = 1 << 30, maxRejected: Double = 0.02, force: Bool = false
    ) -> ImportRequest {
        ImportRequest(
            sourceName: "test-source", plugin: plugin.manifest, path: source,
            schools: schools.map { ($0, "School \($0)") },
            limits: PluginLimits(timeout: timeout, maxStdoutBytes: maxStdout, maxStderrBytes: 64 * 1024),
            maxRejected: maxRejected, force: force)
    }

    /// A digest of every row of every imported table: equal before and after means nothing
    /// was written, not even an updated timestamp.
    func fingerprint() async throws -> [String: String] {
        let db = try await PostgresConnection.connect(url)
        var digests: [String: String] = [:]
        for table in ["schools", "pupils", "pupil_needs", "assessments", "staff", "provisions", "provision_staff", "enrolments"] {
            digests[table] = try await db.query(
                "SELECT count(*) || ':' || md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM \(table) t"
            ).scalar(as: String.self)
        }
        await db.close()
        return digests
    }

    func query(_ sql: String, _ parameters: any PostgresEncodable...) async throws -> PostgresResult {
        let db = try await PostgresConnection.connect(url)
        let result = try await db.query(sql, parameters)
        await db.close()
        return result
    }

    func cleanUp() { try? FileManager.default.removeItem(atPath: folder) }
}
