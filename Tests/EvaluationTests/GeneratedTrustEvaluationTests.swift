import Foundation
import Postgres
import ProvisionStore
import ProvisionTestSupport
import Testing

/// The evaluation measured against a generated trust's truth.json: the figures are
/// printed for the record, and the properties that must hold are asserted.
@Suite("evaluation against a generated trust's truth")
struct GeneratedTrustEvaluationTests {
    /// Seeds of the generator the figures in docs/evaluation.md come from
    /// (benchmarks/evaluation-quality.sh prints the same table).
    @Test(arguments: [1, 2, 3])
    func flagsAndVerdictsAgainstTheTruth(seed: Int) async throws {
        let trust = try await GeneratedTrust.imported("truth", pupils: 4000, schools: 4, seed: seed)
        defer { trust.remove() }
        let (folder, url, config) = (trust.folder, trust.url, trust.config)
        let evaluated = try await TestProcess.run(
            TestProcess.executable("provisionctl"), ["--config", config, "evaluate", "--as-of", "2026-11-29"])
        #expect(evaluated.exitCode == 0, "\(evaluated.standardError)")

        // A truth key that is missing fails the test: nothing is scored against nothing.
        let truth = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/truth.json"))) as? [String: Any])
        func entries(_ key: String) throws -> [[String: Any]] {
            try #require(truth[key] as? [[String: Any]], "truth.json has no \(key)")
        }
        func truthSet(_ key: String, _ fields: [String]) throws -> Set<String> {
            Set(try entries(key).map { item in try fields.map { try #require(item[$0], "\(key) entry without \($0)") as Any }.map { "\($0)" }.joined(separator: "|") })
        }
        var frequency: [String: String] = [:]
        for school in try entries("schools") {
            frequency[try #require(school["urn"] as? String)] = try #require(school["assessment_frequency"] as? String)
        }
        #expect(Set(frequency.values) == ["half-termly", "termly"])
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
        func report(_ name: String, found: Set<String>, truth: Set<String>) -> (precision: Double, recall: Double, f1: Double) {
            let hits = found.intersection(truth).count
            let precision = found.isEmpty ? 1 : Double(hits) / Double(found.count)
            let recall = truth.isEmpty ? 1 : Double(hits) / Double(truth.count)
            let f1 = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall)
            print("evaluation vs truth (seed \(seed)): \(name): flagged \(found.count), true \(truth.count), precision \(String(format: "%.2f", precision)), recall \(String(format: "%.2f", recall)), F1 \(String(format: "%.2f", f1))")
            return (precision, recall, f1)
        }

        // Stalls, scored against the stalls the data can show; the others are neither hits
        // nor false alarms.
        var stalls: [(upn: String, school: String, detectable: Bool)] = []
        for entry in try entries("stalled_pupils") {
            stalls.append((
                try #require(entry["upn"] as? String), try #require(entry["school_urn"] as? String),
                try #require(entry["detectable"] as? Bool, "a stall without 'detectable'")))
        }
        let flaggedStalls = try await db.query(
            """
            SELECT p.upn, s.urn FROM evaluation_flags f JOIN pupils p ON p.id = f.pupil_id JOIN schools s ON s.id = p.school_id
             WHERE f.evaluation_run_id = $1 AND f.rule = 'stalled_pupil'
            """, run
        ).rows.map { (try $0.decode("upn", as: String.self), try $0.decode("urn", as: String.self)) }
        let hidden = Set(stalls.filter { !$0.detectable }.map(\.upn))
        var byFrequency: [String: (precision: Double, recall: Double, f1: Double)] = [:]
        for kind in ["half-termly", "termly"] {
            let found = Set(flaggedStalls.filter { frequency[$0.1] == kind }.map(\.0)).subtracting(hidden)
            let detectable = Set(stalls.filter { $0.detectable && frequency[$0.school] == kind }.map(\.upn))
            byFrequency[kind] = report("stalled_pupil, \(kind) schools", found: found, truth: detectable)
        }
        let halfTermly = try #require(byFrequency["half-termly"])
        #expect(halfTermly.precision >= 0.6, "stall precision \(halfTermly.precision)")
        #expect(halfTermly.recall >= 0.6, "stall recall \(halfTermly.recall)")
        #expect(halfTermly.f1 >= 0.6, "stall F1 \(halfTermly.f1)")

        let exits = report(
            "missing_exit_data", found: try await flagged("missing_exit_data", "p.upn || '|' || pr.provision_id"),
            truth: try truthSet("missing_exit", ["upn", "provision_id"]))
        let ehcp = report(
            "ehcp_provision_not_delivered", found: try await flagged("ehcp_provision_not_delivered", "p.upn"),
            truth: try truthSet("ehcp_provision_not_delivered", ["upn"]))
        let need = report(
            "need_without_provision", found: try await flagged("need_without_provision", "p.upn"),
            truth: try truthSet("need_without_provision", ["upn"]))
        #expect(ehcp.precision == 1 && ehcp.recall == 1)
        #expect(exits.precision == 1 && exits.recall >= 0.9)
        #expect(need.precision >= 0.95 && need.recall >= 0.95)

        // Programmes across the trust, and every school's group, against their true effects.
        var effects: [String: Double] = [:]
        for programme in try entries("programmes") {
            effects[try #require(programme["name"] as? String)] = try #require(programme["true_effect_months_per_month"] as? Double)
        }
        let programmes = try await db.query(
            "SELECT name, verdict, value_added_n AS n FROM provision_outcomes WHERE evaluation_run_id = $1 AND provision_id IS NULL ORDER BY name", run
        ).rows.map { (try $0.decode("name", as: String.self), try $0.decode("verdict", as: String.self), try $0.decode("n", as: Int.self)) }
        #expect(programmes.count >= 5)
        for (name, verdict, n) in programmes {
            let effect = try #require(effects[name], "no true effect for \(name)")
            print("evaluation vs truth (seed \(seed)): programme \(name) (true effect \(effect)): \(verdict), n = \(n)")
            if effect <= 0 { #expect(verdict != "effective", "\(name) (true effect \(effect)) judged effective") }
            if effect < 0 && n >= 40 { #expect(verdict == "ineffective", "\(name) (true effect \(effect), n = \(n)) judged \(verdict)") }
            if effect >= 2 { #expect(verdict == "effective", "\(name) (true effect \(effect)) judged \(verdict)") }
        }
        let groups = try await db.query(
            """
            SELECT pr.name, o.verdict FROM provision_outcomes o JOIN provisions pr ON pr.id = o.provision_id
             WHERE o.evaluation_run_id = $1
            """, run).rows
        for row in groups {
            let name: String = try row.decode("name")
            let effect = try #require(effects[name], "no true effect for \(name)")
            if effect <= 0 { #expect(try row.decode("verdict", as: String.self) != "effective", "a group of \(name) judged effective") }
        }
        await db.close()
    }
}
