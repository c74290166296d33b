import Foundation
import ProvisionTestSupport
import Testing

/// A trust made by `provisionctl generate`, pointed at a fresh test database and imported by
/// `provisiond --once` (which also evaluates it as of today), for the tests that need a whole
/// trust rather than a hand-made school.
struct GeneratedTrust {
    /// The folder the generator wrote; removed by ``remove()``.
    let folder: String
    let url: String
    let config: String

    static let plugins = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Plugins").path

    /// Generates `pupils` pupils in `schools` schools from `seed` (as of 2026-11-29) and
    /// imports every source, expecting each to succeed.
    static func imported(_ label: String, pupils: Int, schools: Int, seed: Int) async throws -> GeneratedTrust {
        let folder = try TestProcess.temporaryDirectory("eval-\(label)")
        let url = try await TestPostgres.shared.freshDatabase("eval\(label.filter(\.isLetter))\(seed)")
        let generated = try await TestProcess.run(TestProcess.executable("provisionctl"), [
            "generate", "--out", folder, "--today", "2026-11-29", "--pupils", "\(pupils)", "--schools", "\(schools)",
            "--seed", "\(seed)", "--plugins-dir", plugins,
        ])
        #expect(generated.exitCode == 0, "\(generated.standardError)")
        // Point the generated configuration at the test database instead of an embedded one.
        let config = folder + "/provision.toml"
        let text = try String(contentsOfFile: config, encoding: .utf8)
        try text.replacingOccurrences(of: "[state]", with: "[database]\nurl = \"\(url)\"\n\n[state]")
            .write(toFile: config, atomically: true, encoding: .utf8)
        let imported = try await TestProcess.run(TestProcess.executable("provisiond"), ["--config", config, "--once"])
        // Three sources per school: its CTF, its mark sheets and its provision map.
        #expect(imported.standardOutput.contains("\(schools * 3) sources, 0 failed"), "\(imported.standardOutput)")
        return GeneratedTrust(folder: folder, url: url, config: config)
    }

    func remove() { try? FileManager.default.removeItem(atPath: folder) }
}
