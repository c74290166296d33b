import Foundation
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
import Postgres
import ProvisionModel
import ProvisionTestSupport

/// A `provisiond` running as a real process, with its log collected as it is written.
final class RunningDaemon: @unchecked Sendable {
    let process = Process()
    private let lock = NSLock()
    private var buffer = ""

    init(config: String) throws {
        process.executableURL = URL(fileURLWithPath: TestProcess.executable("provisiond"))
        process.arguments = ["--config", config]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        errors.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self, !data.isEmpty else { return }
            self.lock.withLock { self.buffer += String(decoding: data, as: UTF8.self) }
        }
        try process.run()
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }

    var log: String { lock.withLock { buffer } }
    var pid: Int32 { process.processIdentifier }

    /// Waits until the log holds `text` at least `count` times; false on timeout or exit.
    @discardableResult
    func waitFor(_ text: String, count: Int = 1, seconds: Double = 120) async -> Bool {
        func seen() -> Bool { log.components(separatedBy: text).count - 1 >= count }
        // An exited process writes no more: stop waiting then too.
        _ = await eventually(seconds: seconds) { seen() || !process.isRunning }
        return seen()
    }

    /// Waits for the process to end; its exit status, or nil on timeout.
    func waitForExit(seconds: Double = 120) async -> Int32? {
        _ = await eventually(seconds: seconds) { !process.isRunning }
        return process.isRunning ? nil : process.terminationStatus
    }

    /// The port the operations endpoint bound (the tests ask for port 0).
    var httpPort: Int? { port(after: "operations endpoint listening") }

    /// The port the console bound.
    var consolePort: Int? { port(after: "console listening") }

    private func port(after message: String) -> Int? {
        guard let line = log.split(separator: "\n").first(where: { $0.contains(message) }),
            let range = line.range(of: #"127\.0\.0\.1:(\d+)"#, options: .regularExpression)
        else { return nil }
        return Int(line[range].split(separator: ":").last ?? "")
    }

    func stop() async -> Int32? {
        kill(pid, SIGTERM)
        return await waitForExit()
    }
}

/// A trust whose sources are shell-script plugins, for daemon tests: one school, or one
/// per school its sources name.
struct DaemonSetup {
    let folder: String
    let config: String
    let url: String?

    struct Source {
        var name: String
        /// The plugin's script; `$2` is the source file, which holds `pupils` valid records.
        var body: String = #"cat "$2""#
        var pupils: Int = 3
        var firstPupil: Int = 1
        /// The source's `env`; a value that is an absolute path is visible (read-only) in the sandbox.
        var environment: [String: String] = [:]
        /// The school (URN) the source is bound to and its pupils belong to.
        var school: String = DaemonSetup.school
    }

    static let school = "139001"

    static func upn(_ n: Int) -> String {
        UPN.withCheckLetter("8012000" + "25" + String(format: "%03d", n % 1000)) ?? ""
    }

    /// Pupils on SEN support with no provision: each evaluation raises alerts, so mail flows.
    static func records(source: Source) -> String {
        func line(_ object: [String: Any]) -> String {
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
            return String(decoding: data, as: UTF8.self)
        }
        var lines = [line(["type": "header", "protocol": 1, "plugin": source.name, "source_kind": "delta"])]
        for n in source.firstPupil..<(source.firstPupil + source.pupils) {
            lines.append(line([
                "type": "pupil", "school_urn": source.school, "upn": upn(n), "surname": "Surname\(n)", "forename": "Forename\(n)",
                "dob": "2016-09-\(String(format: "%02d", n % 28 + 1))", "year_group": "4", "sen_provision": "K",
                "needs": [["code": "SPLD", "rank": 1]],
            ]))
        }
        lines.append(line(["type": "end", "counts": ["pupil": source.pupils]]))
        return lines.joined(separator: "\n") + "\n"
    }

    /// Writes plugins, source files and a configuration; `url` nil means the embedded cluster.
    static func make(
        _ label: String, url: String?, sources: [Source], daemon: String = ""
    ) throws -> DaemonSetup {
        let folder = try TestProcess.temporaryDirectory(label)
        var text = """
            [plugins]
            dirs = ["plugins"]
            timeout_seconds = 120

            [console]
            listen = "127.0.0.1:0"

            [daemon]
            http_listen = "127.0.0.1:0"
            retry_base_seconds = 1
            retry_max_seconds = 4
            max_attempts = 3
            shutdown_grace_seconds = 2
            trust_evaluation_delay_seconds = 1
            \(daemon)

            [[schools]]
            urn = "\(school)"
            name = "Fenland Primary"
            sencos = ["senco@fenland.example"]

            """
        for other in Set(sources.map(\.school)).subtracting([school]).sorted() {
            text += """

                [[schools]]
                urn = "\(other)"
                name = "School \(other)"
                sencos = ["senco@\(other).example"]

                """
        }
        for source in sources {
            let plugin = folder + "/plugins/" + source.name
            try FileManager.default.createDirectory(atPath: plugin, withIntermediateDirectories: true)
            try """
                name = "\(source.name)"
                version = "1.0.0"
                protocol = 1
                description = "test plugin"
                exec = "run.sh"
                accepts = ["*.ndjson"]
                """.write(toFile: plugin + "/plugin.toml", atomically: true, encoding: .utf8)
            try ("#!/bin/sh\n" + source.body + "\n").write(toFile: plugin + "/run.sh", atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: plugin + "/run.sh")
            let data = folder + "/data/\(source.name).ndjson"
            try FileManager.default.createDirectory(atPath: folder + "/data", withIntermediateDirectories: true)
            try records(source: source).write(toFile: data, atomically: true, encoding: .utf8)
            text += """

                [[sources]]
                name = "\(source.name)"
                plugin = "\(source.name)"
                path = "data/\(source.name).ndjson"
                schools = ["\(source.school)"]
                env = { \(source.environment.sorted { $0.key < $1.key }.map { "\($0.key) = \"\($0.value)\"" }.joined(separator: ", ")) }

                """
        }
        // Digests go out as soon as they are due on any day, so tests need not wait for
        // 07:30 on a school day. Last in the file, so a test can append [mail] keys.
        text += """

            [mail]
            digest_time = "00:00"
            digest_days = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]

            """
        let config = try TestProcess.writeConfig(in: folder, databaseURL: url, extra: text)
        return DaemonSetup(folder: folder, config: config, url: url)
    }

    func provisionctl(_ arguments: [String]) async throws -> TestProcess.Result {
        try await TestProcess.run(TestProcess.executable("provisionctl"), ["--config", config] + arguments)
    }

    func connect() async throws -> PostgresConnection {
        try await PostgresConnection.connect(url ?? "")
    }

    func remove() { try? FileManager.default.removeItem(atPath: folder) }
}

extension PostgresConnection {
    func count(_ sql: String, _ parameters: any PostgresEncodable...) async throws -> Int {
        try query(sql, parameters).scalar(as: Int.self)
    }
}

/// GET on the daemon's loopback endpoint: status code and body.
func httpGet(port: Int, path: String) async throws -> (Int, String) {
    guard let url = URL(string: "http://127.0.0.1:\(port)\(path)") else { return (0, "") }
    let (data, response) = try await URLSession.shared.data(from: url)
    return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
}
