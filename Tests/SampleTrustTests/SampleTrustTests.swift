import Foundation
import ProvisionTestSupport
import Testing

@Suite("sample trust generator")
struct SampleTrustTests {
    let program = TestProcess.executable("provisionctl")
    static let plugins = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Plugins").path

    func generate(_ folder: String, _ extra: [String] = []) async throws {
        let result = try await TestProcess.run(
            program, ["generate", "--out", folder, "--today", "2026-11-29", "--plugins-dir", Self.plugins] + extra)
        #expect(result.exitCode == 0, "\(result.standardError)")
    }

    func files(_ folder: String) throws -> [String: Data] {
        var contents: [String: Data] = [:]
        for case let path as String in FileManager.default.enumerator(atPath: folder)?.allObjects ?? [] {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: folder + "/" + path, isDirectory: &isDirectory), !isDirectory.boolValue {
                contents[path] = try Data(contentsOf: URL(fileURLWithPath: folder + "/" + path))
            }
        }
        return contents
    }

    @Test func theSameSeedGivesByteIdenticalOutput() async throws {
        let a = try TestProcess.temporaryDirectory("gen-a"), b = try TestProcess.temporaryDirectory("gen-b"), c = try TestProcess.temporaryDirectory("gen-c")
        defer { [a, b, c].forEach { try? FileManager.default.removeItem(atPath: $0) } }
        try await generate(a, ["--seed", "42", "--pupils", "600", "--schools", "3"])
        try await generate(b, ["--seed", "42", "--pupils", "600", "--schools", "3"])
        try await generate(c, ["--seed", "43", "--pupils", "600", "--schools", "3"])
        let first = try files(a)
        #expect(first.count > 20)
        #expect(first == (try files(b)))
        #expect(first["truth.json"] != (try files(c))["truth.json"])
    }

    @Test func theTruthDescribesARealisticTrust() async throws {
        let folder = try TestProcess.temporaryDirectory("gen-truth")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try await generate(folder, ["--pupils", "4000", "--schools", "4"])
        let truth = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/truth.json"))) as? [String: Any])
        let programmes = try #require(truth["programmes"] as? [[String: Any]])
        let effects = programmes.compactMap { $0["true_effect_months_per_month"] as? Double }
        #expect(effects.contains { $0 < 0 }, "a harmful programme")
        #expect(effects.contains(0), "a programme with no effect")
        #expect(effects.contains { $0 >= 1.5 }, "a programme with a large effect")
        let stalled = try #require(truth["stalled_pupils"] as? [Any])
        #expect((40...200).contains(stalled.count), "about 3% stalled: \(stalled.count)")
        #expect(!(try #require(truth["missing_exit"] as? [Any])).isEmpty)
        #expect(!(try #require(truth["ehcp_provision_not_delivered"] as? [Any])).isEmpty)
        // SEN shares from the CTFs themselves: about 13% SEN support and 4–5% EHCP.
        var support = 0, ehcp = 0, pupils = 0
        for case let path as String in FileManager.default.enumerator(atPath: folder + "/schools")?.allObjects ?? [] where path.hasSuffix(".xml") {
            let text = try String(contentsOfFile: folder + "/schools/" + path, encoding: .utf8)
            pupils += text.components(separatedBy: "<Pupil>").count - 1
            support += text.components(separatedBy: "<SENprovision>K</SENprovision></SEN><SENneeds>").count - 1
            ehcp += text.components(separatedBy: "<SENprovision>E</SENprovision>").count - 1
        }
        #expect(pupils == 4000)
        #expect((0.10...0.16).contains(Double(support) / Double(pupils)), "SEN support \(support) of \(pupils)")
        #expect((0.03...0.06).contains(Double(ehcp) / Double(pupils)), "EHCP \(ehcp) of \(pupils)")
    }

    @Test func everyGeneratedFilePassesItsPluginCheck() async throws {
        let folder = try TestProcess.temporaryDirectory("gen-check")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try await generate(folder, ["--pupils", "500", "--schools", "2"])
        for (plugin, sub, env) in [("ctf", "ctf", [String]()), ("mis-csv", "marksheets", ["--env", "MAPPING=sims-assessments"]), ("provision-map", "provision-map", [])] {
            let result = try await TestProcess.run(
                program, ["plugin", "check", Self.plugins + "/" + plugin, folder + "/schools/139001/" + sub, "--school", "139001"] + env)
            #expect(result.exitCode == 0, "\(plugin): \(result.standardOutput)")
            #expect(result.standardOutput.contains("Rejected: 0"), "\(plugin): \(result.standardOutput)")
        }
    }

    @Test func theDaemonRunsOnTheGeneratedConfigurationUnchanged() async throws {
        let folder = try TestProcess.temporaryDirectory("gen-daemon")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try await generate(folder, ["--pupils", "300", "--schools", "2"])
        let result = try await TestProcess.run(TestProcess.executable("provisiond"), ["--config", folder + "/provision.toml", "--once"])
        #expect(result.exitCode == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("6 sources, 0 failed"), "\(result.standardOutput)")
    }
}
