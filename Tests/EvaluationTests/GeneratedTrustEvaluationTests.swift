import Foundation
import Postgres
import ProvisionStore
import ProvisionTestSupport
import Testing

/// The evaluation measured against a generated trust's truth.json: the figures are
/// printed for the record, and the properties that must hold are asserted.
@Suite("evaluation against a generated trust's truth")
struct GeneratedTrustEvaluationTests {
    static let plugins = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Plugins").path

    @Test func flagsAndVerdictsAgainstTheTruth() async throws {
        let folder = try TestProcess.temporaryDirectory("eval-truth")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let url = try await TestPostgres.shared.freshDatabase("evaltruth")
        let generated = try await TestProcess.run(TestProcess.executable("provisionctl"), [
            "generate", "--out", folder, "--today", "2026-11-29", "--pupils", "2400", "--schools", "4", "--seed", "5",
            "--plugins-dir", Self.plugins,
        ])
        #expect(generated.exitCode == 0, "\(generated.standardError)")
        // Point the generated configuration at the test database instead of an embedded one.
        let config = folder + "/provision.toml"
        let text = try String(contentsOfFile: config, encoding: .utf8)
        try text.replacingOccurrences(of: "[state]", with: "[database]\nurl = \"\(url)\"\n\n[state]")
            .write(toFile: config, atomically: true, encoding: .utf8)
        let imported = try await TestProcess.run(TestProcess.executable("provisiond"), ["--config", config, "--once"])
        #expect(imported.standardOutput.contains("12 sources, 0 failed"), "\(imported.standardOutput)")
        let evaluated = try await TestProcess.run(
            TestProcess.executable("provisionctl"), ["--config", config, "evaluate", "--as-of", "2026-11-29"])
        #expect(evaluated.exitCode == 0, "\(evaluated.standardError)")

        let truth = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/truth.json"))) as? [String: Any])
        func truthSet(_ key: String, _ fields: [String]) -> Set<String> {
            Set(((truth[key] as? [[String: Any]]) ?? []).map { item in fields.map { "\(item[$0] ?? "")" }.joined(separator: "|") })
        }
        let db = try await PostgresConnection.connect(url)
        let run = try await db.query("SELECT max(id) FROM evaluation_runs").scalar(as: Int64.self)
        func flagged(_ rule: String, _ key: String) async throws -> Set<String> {
            Set(try await db.query(
                """
                SELECT \(key) AS k FROM evaluation_flags f LEFT JOIN pupils p ON p.id = f.pupil_id
                  LEFT JOIN provisions pr ON pr.id = f.provision_id WHERE f.evaluation_run_id = $1 AND f.rule = $2
                """, run, rule
            ).rows.map { try $0.decode("k", as: String.self) })
        }
        func report(_ name: String, found: Set<String>, truth: Set<String>) -> (precision: Double, recall: Double) {
            let hits = found.intersection(truth).count
            let precision = found.isEmpty ? 1 : Double(hits) / Double(found.count)
            let recall = truth.isEmpty ? 1 : Double(hits) / Double(truth.count)
            print("evaluation vs truth: \(name): flagged \(found.count), true \(truth.count), precision \(String(format: "%.2f", precision)), recall \(String(format: "%.2f", recall))")
            return (precision, recall)
        }
        let stalled = report("stalled_pupil", found: try await flagged("stalled_pupil", "p.upn"), truth: truthSet("stalled_pupils", ["upn"]))
        let exits = report(
            "missing_exit_data", found: try await flagged("missing_exit_data", "p.upn || '|' || pr.provision_id"),
            truth: truthSet("missing_exit", ["upn", "provision_id"]))
        let ehcp = report(
            "ehcp_provision_not_delivered", found: try await flagged("ehcp_provision_not_delivered", "p.upn"),
            truth: truthSet("ehcp_provision_not_delivered", ["upn"]))
        let need = report(
            "need_without_provision", found: try await flagged("need_without_provision", "p.upn"),
            truth: truthSet("need_without_provision", ["upn"]))
        #expect(ehcp.precision == 1 && ehcp.recall == 1)
        #expect(exits.precision == 1 && exits.recall >= 0.9)
        #expect(need.precision >= 0.95 && need.recall >= 0.95)
        #expect(stalled.recall > 0)

        // Programmes across the trust: the verdict of each against its true effect.
        let programmes = try await db.query(
            "SELECT name, verdict, n FROM provision_outcomes WHERE evaluation_run_id = $1 AND provision_id IS NULL ORDER BY name", run
        ).rows.map { (try $0.decode("name", as: String.self), try $0.decode("verdict", as: String.self), try $0.decode("n", as: Int.self)) }
        let effects = Dictionary(uniqueKeysWithValues: ((truth["programmes"] as? [[String: Any]]) ?? []).compactMap { item -> (String, Double)? in
            guard let name = item["name"] as? String, let effect = item["true_effect_months_per_month"] as? Double else { return nil }
            return (name, effect)
        })
        for (name, verdict, n) in programmes {
            print("evaluation vs truth: programme \(name) (true effect \(effects[name] ?? .nan)): \(verdict), n = \(n)")
            if let effect = effects[name], effect <= 0 {
                // No effect, or harm, with pupils chosen for low scores: never "effective".
                #expect(verdict != "effective", "\(name) judged effective")
            }
        }
        let all = try await db.query(
            """
            SELECT pr.name, o.verdict FROM provision_outcomes o JOIN provisions pr ON pr.id = o.provision_id
             WHERE o.evaluation_run_id = $1
            """, run).rows
        for row in all where (effects[try row.decode("name", as: String.self)] ?? 1) <= 0 {
            #expect(try row.decode("verdict", as: String.self) != "effective")
        }
        await db.close()
    }
}
