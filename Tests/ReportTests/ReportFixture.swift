import Foundation
import ImporterKit
import Postgres
import ProvisionTestSupport

/// One generated trust (two schools, 400 pupils), imported and evaluated once per test run
/// by `provisiond --once`, shared by every report test.
actor ReportFixture {
    static let shared = ReportFixture()

    struct Trust: Sendable {
        let folder: String
        let config: String
        let url: String
    }

    private var ready: Task<Trust, any Error>?

    func trust() async throws -> Trust {
        if let ready { return try await ready.value }
        let task = Task { () throws -> Trust in
            let folder = try TestProcess.temporaryDirectory("reports")
            let generated = try await TestProcess.run(
                TestProcess.executable("provisionctl"),
                ["generate", "--out", folder, "--schools", "2", "--pupils", "400", "--seed", "11", "--today", "2026-11-20"])
            guard generated.exitCode == 0 else { throw FixtureError(generated.standardError) }
            let url = try await TestPostgres.shared.freshDatabase("reports")
            let config = folder + "/provision.toml"
            let text = try String(contentsOfFile: config, encoding: .utf8)
            try (text + "\n[database]\nurl = \"\(url)\"\n").write(toFile: config, atomically: true, encoding: .utf8)
            let once = try await TestProcess.run(TestProcess.executable("provisiond"), ["--config", config, "--once"])
            guard once.exitCode == 0 else { throw FixtureError(once.standardOutput + once.standardError) }
            return Trust(folder: folder, config: config, url: url)
        }
        ready = task
        return try await task.value
    }

    struct FixtureError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}

extension ReportFixture.Trust {
    /// Runs `provisionctl report ARGS` and returns what it wrote.
    func report(_ arguments: [String]) async throws -> TestProcess.Result {
        try await TestProcess.run(TestProcess.executable("provisionctl"), ["--config", config, "report"] + arguments)
    }

    func json(_ arguments: [String]) async throws -> [String: Any] {
        let result = try await report(arguments + ["--format", "json"])
        guard result.exitCode == 0,
            let object = try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any]
        else { throw ReportFixture.FixtureError("report \(arguments) failed: \(result.standardError)") }
        return object
    }

    /// The report as CSV, written to a file and read back with the importers' RFC 4180 reader.
    func csv(_ arguments: [String]) async throws -> (raw: [UInt8], rows: [[String]]) {
        let path = folder + "/report-\(UUID().uuidString.prefix(8)).csv"
        let result = try await report(arguments + ["--format", "csv", "--out", path])
        guard result.exitCode == 0 else { throw ReportFixture.FixtureError(result.standardError) }
        let raw = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let reader = try CSVReader(path: path, encoding: .utf8)
        var rows: [[String]] = []
        while let item = reader.next() {
            guard case .row(_, let fields) = item else { throw ReportFixture.FixtureError("unreadable CSV row in \(path)") }
            rows.append(fields)
        }
        return (raw, rows)
    }

    func connect() async throws -> PostgresConnection { try await PostgresConnection.connect(url) }
}

extension PostgresConnection {
    func strings(_ sql: String, _ parameters: any PostgresEncodable...) async throws -> [String] {
        try query(sql, parameters).rows.map { try $0.decode("v", as: String.self) }
    }

    func double(_ sql: String, _ parameters: any PostgresEncodable...) async throws -> Double {
        try query(sql, parameters).scalar(as: Double.self)
    }
}

/// HTML-escapes like the renderer, to find names from the data in a report.
func htmlEscaped(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        .replacingOccurrences(of: "'", with: "&#39;")
}
