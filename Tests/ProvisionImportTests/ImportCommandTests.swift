import Foundation
import ProvisionTestSupport
import Testing

@Suite("provisionctl import and plugin commands")
struct ImportCommandTests {
    let program = TestProcess.executable("provisionctl")
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// A config with one school, a plugins folder and one source using the fixture plugin.
    func setUp(_ label: String, pluginBody: String, lines: [String], sencos: [String] = []) async throws -> (folder: String, config: String) {
        let folder = try TestProcess.temporaryDirectory(label)
        let url = try await TestPostgres.shared.freshDatabase(label)
        _ = try TestPlugin.make(in: folder + "/plugins", body: pluginBody)
        try (lines.joined(separator: "\n") + "\n").write(toFile: folder + "/input.ndjson", atomically: true, encoding: .utf8)
        let config = try TestProcess.writeConfig(in: folder, databaseURL: url, extra: """
            [plugins]
            dirs = ["plugins"]

            [[schools]]
            urn = "139001"
            name = "Fenland Primary"
            sencos = [\(sencos.map { "\"\($0)\"" }.joined(separator: ", "))]

            [[sources]]
            name = "fenland"
            plugin = "fixture"
            path = "input.ndjson"
            schools = ["139001"]
            """)
        return (folder, config)
    }

    @Test func importExitsZeroThenReportsUnchanged() async throws {
        let (folder, config) = try await setUp("cli-import", pluginBody: #"cat "$2""#, lines: ProtocolFixture.run(pupils: 4))
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let first = try await TestProcess.run(program, ["--config", config, "import", "--source", "fenland"])
        #expect(first.exitCode == 0, "\(first.standardError)")
        #expect(first.standardOutput.contains("succeeded"))
        #expect(first.standardOutput.contains("pupils +4 ~0"))
        #expect(first.standardOutput.contains("Evaluation run 1 of school 139001"))
        #expect(!first.standardOutput.contains("Surname"), "pupil data in the summary")
        let second = try await TestProcess.run(program, ["--config", config, "import", "--source", "fenland"])
        #expect(second.exitCode == 0)
        #expect(second.standardOutput.contains("unchanged"))
        #expect(!second.standardOutput.contains("Evaluation run"))
        let manual = try await TestProcess.run(
            program, ["--config", config, "import", "--plugin", "fixture", "--school", "139001", folder + "/input.ndjson"])
        #expect(manual.exitCode == 0, "\(manual.standardError)")
        #expect(manual.standardOutput.contains("Changed: nothing"))
        // Nothing the evaluation reads changed since run 1, today: no run repeats it.
        #expect(manual.standardOutput.contains(
            "Evaluation of school 139001: not run again; evaluation run 1 already saw this data, today, under these settings."),
            "\(manual.standardOutput)")
        #expect(!manual.standardOutput.contains("Evaluation run 2"))
        let forced = try await TestProcess.run(program, ["--config", config, "import", "--source", "fenland", "--force"])
        #expect(forced.standardOutput.contains("not run again; evaluation run 1"), "\(forced.standardOutput)")
        // Once the data changes, the school is evaluated again.
        try (ProtocolFixture.run(pupils: 5).joined(separator: "\n") + "\n").write(
            toFile: folder + "/input.ndjson", atomically: true, encoding: .utf8)
        let changed = try await TestProcess.run(program, ["--config", config, "import", "--source", "fenland"])
        #expect(changed.standardOutput.contains("Evaluation run 2 of school 139001"), "\(changed.standardOutput)")
    }

    @Test func aFailingPluginExitsOneAndRejectedInputExits65() async throws {
        let (folder, config) = try await setUp("cli-fail", pluginBody: #"head -n 2 "$2"; exit 2"#, lines: ProtocolFixture.run(pupils: 4))
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let crashed = try await TestProcess.run(program, ["--config", config, "import", "--source", "fenland"])
        #expect(crashed.exitCode == 1)
        #expect(crashed.standardOutput.contains("Failed: the plugin exited with status 2"))

        var lines = ProtocolFixture.run(pupils: 4)
        lines.insert("not json", at: 2)
        try (lines.joined(separator: "\n") + "\n").write(toFile: folder + "/input.ndjson", atomically: true, encoding: .utf8)
        try "#!/bin/sh\ncat \"$2\"\n".write(toFile: folder + "/plugins/fixture/run.sh", atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: folder + "/plugins/fixture/run.sh")
        let rejected = try await TestProcess.run(program, ["--config", config, "import", "--source", "fenland"])
        #expect(rejected.exitCode == 65)
        #expect(rejected.standardOutput.contains("protocol error: line 3: not valid JSON"))

        let unknown = try await TestProcess.run(program, ["--config", config, "import", "--source", "nowhere"])
        #expect(unknown.exitCode == 64)
        #expect(unknown.standardError.contains("No source named 'nowhere'"))
    }

    @Test func alertsListJSONHasTheStableFields() async throws {
        let lines = [ProtocolFixture.header(), ProtocolFixture.pupil(1, sen: "K"), ProtocolFixture.pupil(2), ProtocolFixture.end(["pupil": 2])]
        let (folder, config) = try await setUp("cli-alerts", pluginBody: #"cat "$2""#, lines: lines)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let imported = try await TestProcess.run(program, ["--config", config, "import", "--source", "fenland"])
        #expect(imported.standardOutput.contains("alerts: 1 opened"), "\(imported.standardOutput)")
        let listed = try await TestProcess.run(program, ["--config", config, "alerts", "list", "--json"])
        #expect(listed.exitCode == 0, "\(listed.standardError)")
        let alerts = try #require(try JSONSerialization.jsonObject(with: Data(listed.standardOutput.utf8)) as? [[String: Any]])
        #expect(alerts.count == 1)
        let alert = try #require(alerts.first)
        #expect(alert["rule"] as? String == "need_without_provision")
        #expect(alert["status"] as? String == "open")
        #expect(alert["school_urn"] as? String == "139001")
        #expect(alert["upn"] as? String == ProtocolFixture.upn(1))
        #expect(alert["opened_at"] is String)
        #expect((alert["reason"] as? String)?.contains("On SEN support (SPLD) with no active provision.") == true)
        #expect(alert["numbers"] is [String: Any])
    }

    @Test func daemonOnceImportsEverySourceAndExitsByTheResult() async throws {
        let daemon = TestProcess.executable("provisiond")
        let (folder, config) = try await setUp("daemon-once", pluginBody: #"cat "$2""#, lines: ProtocolFixture.run(pupils: 3))
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let ok = try await TestProcess.run(daemon, ["--config", config, "--once"])
        #expect(ok.exitCode == 0, "\(ok.standardError)")
        #expect(ok.standardOutput.contains("source fenland: run 1 succeeded"), "\(ok.standardOutput)")
        try "#!/bin/sh\nexit 9\n".write(toFile: folder + "/plugins/fixture/run.sh", atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: folder + "/plugins/fixture/run.sh")
        let failed = try await TestProcess.run(daemon, ["--config", config, "--once"])
        #expect(failed.exitCode == 1)
        #expect(failed.standardOutput.contains("the plugin exited with status 9"), "\(failed.standardOutput)")
    }

    @Test func pluginListShowsGoodPluginsAndBrokenManifests() async throws {
        let folder = try TestProcess.temporaryDirectory("cli-list")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        _ = try TestPlugin.make(in: folder, name: "good-one", body: "true")
        try FileManager.default.createDirectory(atPath: folder + "/broken", withIntermediateDirectories: true)
        try "name = \"broken\"\nversion = \"1\"\nprotocol = 1\nexec = \"missing.sh\"\n"
            .write(toFile: folder + "/broken/plugin.toml", atomically: true, encoding: .utf8)
        let result = try await TestProcess.run(program, ["plugin", "list", "--dir", folder])
        #expect(result.exitCode == 0)
        #expect(result.standardOutput.contains("good-one"))
        #expect(result.standardOutput.contains("broken/plugin.toml:4: key 'exec':"))
        #expect(result.standardOutput.contains("does not exist"))
    }

    @Test func pluginCheckRunsThePythonExampleWithoutADatabase() async throws {
        let example = Self.repository + "/Plugins/examples/python-csv"
        let result = try await TestProcess.run(program, ["plugin", "check", example, example + "/sample.csv", "--school", "139001"])
        #expect(result.exitCode == 0, "\(result.standardOutput)\(result.standardError)")
        #expect(result.standardOutput.contains("pupil        sent 3, valid 3"))
        #expect(result.standardOutput.contains("Data-quality warnings: 1"))
        #expect(result.standardOutput.contains("OK: the daemon would import this."))
        let wrongSchool = try await TestProcess.run(program, ["plugin", "check", example, example + "/sample.csv", "--school", "139002"])
        #expect(wrongSchool.exitCode == 65)
        #expect(wrongSchool.standardOutput.contains("not bound to"))
    }
}
