import Foundation
import ProvisionTestSupport

/// A real SMTP relay (aiosmtpd, `Tests/Support/smtp-relay.py`) running as a process for
/// one test, with a certificate made for it by `openssl`. Messages it accepts land as JSON
/// files in `outbox`. The Python environment is made by `scripts/install-deps --for-tests`.
final class SMTPRelay: @unchecked Sendable {
    enum Mode: String { case plain, starttls, tls, injection, garbage, silent }

    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let python = repository + "/.build/test-python/bin/python3"

    let folder: String
    let port: Int
    /// The relay's certificate, which a client must be told to trust.
    let certificate: String
    var outbox: String { folder + "/outbox" }
    private let process = Process()

    struct NotStarted: Error, CustomStringConvertible { let description: String }

    init(_ mode: Mode, user: String = "", password: String = "") async throws {
        guard FileManager.default.isExecutableFile(atPath: Self.python) else {
            throw NotStarted(description: "no \(Self.python): run scripts/install-deps --for-tests")
        }
        folder = try TestProcess.temporaryDirectory("smtp-relay")
        try FileManager.default.createDirectory(atPath: folder + "/outbox", withIntermediateDirectories: true)
        certificate = folder + "/cert.pem"
        let made = try await TestProcess.run(
            "/usr/bin/openssl",
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                "-keyout", folder + "/key.pem", "-out", certificate,
            ])
        guard made.exitCode == 0 else { throw NotStarted(description: "openssl: \(made.standardError)") }
        process.executableURL = URL(fileURLWithPath: Self.python)
        process.arguments = [
            Self.repository + "/Tests/Support/smtp-relay.py", "--mode", mode.rawValue, "--cert", certificate,
            "--key", folder + "/key.pem", "--user", user, "--password", password, "--out", folder + "/outbox",
        ]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.standardError
        try process.run()
        // The first line is "ready PORT"; reading it blocks a thread until the relay listens.
        let reader = output.fileHandleForReading
        let line = try await Task.detached { () -> String in
            var bytes: [UInt8] = []
            while let chunk = try reader.read(upToCount: 1), let byte = chunk.first, byte != 0x0A { bytes.append(byte) }
            return String(decoding: bytes, as: UTF8.self)
        }.value
        guard line.hasPrefix("ready "), let port = Int(line.dropFirst(6)) else {
            process.terminate()
            throw NotStarted(description: "the relay did not start: '\(line)'")
        }
        self.port = port
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// The messages the relay accepted, oldest first.
    func accepted() throws -> [[String: Any]] {
        try FileManager.default.contentsOfDirectory(atPath: outbox).filter { $0.hasSuffix(".json") }.sorted().map {
            let data = try Data(contentsOf: URL(fileURLWithPath: outbox + "/" + $0))
            return try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
        }
    }
}
