import Foundation
import ProvisionTestSupport
import SampleTrust
import Testing

/// Exports damaged in every way a copy, an editor or an attacker can damage them: each
/// built-in importer, run directly as the supervisor runs it, either writes protocol lines or
/// refuses the file with a reason, and never traps or hangs.
@Suite("built-in importers on damaged files")
struct ImporterFuzzTests {
    /// (importer program, fixture, environment) of every good fixture and the damaged ones
    /// that still reach the rows.
    static let targets: [(program: String, fixture: String, environment: [String: String])] = [
        ("import-ctf", "ctf/fixtures/good/ctf-v19-sims.xml", [:]),
        ("import-ctf", "ctf/fixtures/good/ctf-v25-arbor.xml", [:]),
        ("import-mis-csv", "mis-csv/fixtures/good/sims-pupils-sen.csv", ["MAPPING": "sims-pupils-sen"]),
        ("import-mis-csv", "mis-csv/fixtures/good/arbor-pupils-sen.csv", ["MAPPING": "arbor-pupils-sen"]),
        ("import-mis-csv", "mis-csv/fixtures/good/sims-assessments.csv", ["MAPPING": "sims-assessments"]),
        ("import-provision-map", "provision-map/fixtures/good/provision-map.csv", [:]),
        ("import-provision-map", "provision-map/fixtures/good/unicode-text.csv", [:]),
        ("import-plans", "plans/fixtures/good/plans-line-breaks.csv", [:]),
    ]

    /// Text that breaks CSV, XML, encodings and numbers when dropped into a file.
    static let breakers: [[UInt8]] = [
        "\"", ",", "\n", "\r", ";", "\t", "\u{FEFF}", "<", ">", "&amp;", "&#0;", "&#x110000;", "<![CDATA[", "</",
        "<!ENTITY a \"aaaa\">", "99999999999999999999999", "-1", "1e400", "31/02/2024", "0000-00-00", "\u{202E}", "\"\"\"\"",
        "=cmd|' /C calc'!A0", "\\", String(repeating: "9", count: 400), String(repeating: "A", count: 4000),
    ].map { Array($0.utf8) } + [[0xFF, 0xFE], [0x00], [0xC3], [0xED, 0xA0, 0x80]]

    /// `bytes` damaged one to eight times: a byte changed, text dropped in, a stretch cut
    /// out, the rest cut off, a line repeated.
    static func damaged(_ bytes: [UInt8], using random: inout SeededRandom) -> [UInt8] {
        var data = bytes
        for _ in 0..<Int.random(in: 1...8, using: &random) {
            let position = data.isEmpty ? 0 : Int.random(in: 0..<data.count, using: &random)
            switch Int.random(in: 0..<5, using: &random) {
            case 0 where !data.isEmpty: data[position] = UInt8.random(in: 0...255, using: &random)
            case 1: data.insert(contentsOf: breakers[Int.random(in: 0..<breakers.count, using: &random)], at: position)
            case 2 where !data.isEmpty: data.removeSubrange(position..<min(data.count, position + Int.random(in: 1...40, using: &random)))
            case 3: data.removeSubrange(position...)
            default:
                var lines = data.split(separator: 0x0A, omittingEmptySubsequences: false)
                guard !lines.isEmpty else { continue }
                let line = Int.random(in: 0..<lines.count, using: &random)
                lines.insert(lines[line], at: line)
                data = Array(lines.joined(separator: [0x0A]))
            }
        }
        return data
    }

    @Test func everyDamagedFileIsReadOrRefusedWithAReason() async throws {
        let root = BuiltInPluginCheckTests.root + "/Plugins/"
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("importer-fuzz-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        var random = SeededRandom(seed: 20261202)  // deterministic, so a failure can be replayed
        var refused = 0
        var read = 0
        for round in 0..<240 {
            let target = Self.targets[round % Self.targets.count]
            let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: root + target.fixture)))
            let file = folder.appendingPathComponent("case-\(round)." + (target.fixture.hasSuffix(".xml") ? "xml" : "csv"))
            try Data(Self.damaged(original, using: &random)).write(to: file)
            let result = try await TestProcess.run(
                TestProcess.executable(target.program), ["--source", file.path],
                environment: target.environment.merging(["PROVISION_SCHOOLS": "139001"]) { own, _ in own })
            let context = "\(target.program) on damaged \(target.fixture), case \(round): \(result.standardError.suffix(400))"
            // A signal (a trap, an abort) leaves no exit status.
            let status = try #require(result.exitCode, "\(context)")
            if status == 0 {
                read += 1
                for line in result.standardOutput.split(separator: "\n") {
                    let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                    #expect(object?["type"] is String, "a line that is not a protocol record: \(line.prefix(200)) (\(context))")
                }
            } else {
                refused += 1
                #expect(status == 65 || status == 1, "\(context)")
                #expect(!result.standardError.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "refused without a reason: \(context)")
            }
        }
        // Both outcomes happen, so the damage is neither always fatal nor always harmless.
        #expect(read + refused == 240)
        #expect(read >= 20, "read \(read), refused \(refused)")
        #expect(refused >= 20, "read \(read), refused \(refused)")
    }
}
