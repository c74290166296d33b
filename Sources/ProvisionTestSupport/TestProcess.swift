import Foundation
import Subprocess

#if canImport(System)
    import System
#else
    @preconcurrency import SystemPackage
#endif

/// Runs the product's own executables from tests, as real processes.
public enum TestProcess {
    /// The folder the test binary was built into; the product's executables are beside it.
    public static var buildDirectory: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    }

    /// The path of a built executable of this package, e.g. `provisionctl`.
    public static func executable(_ name: String) -> String {
        buildDirectory.appendingPathComponent(name).path
    }

    /// What a finished process did.
    public struct Result: Sendable {
        /// Its exit status; nil when a signal ended it.
        public let exitCode: Int32?
        /// Everything it wrote to stdout.
        public let standardOutput: String
        /// Everything it wrote to stderr.
        public let standardError: String
    }

    /// Runs `program` with `arguments` and collects its output.
    public static func run(
        _ program: String, _ arguments: [String], environment: [String: String]? = nil,
        workingDirectory: String? = nil
    ) async throws -> Result {
        let env: Subprocess.Environment =
            environment.map { .custom(Dictionary(uniqueKeysWithValues: $0.map { (Environment.Key(stringLiteral: $0.key), $0.value) })) } ?? .inherit
        let result = try await Subprocess.run(
            .path(FilePath(program)), arguments: Arguments(arguments), environment: env,
            workingDirectory: workingDirectory.map { FilePath($0) },
            output: .string(limit: 16 << 20), error: .string(limit: 16 << 20))
        var code: Int32?
        if case .exited(let value) = result.terminationStatus { code = value }
        return Result(exitCode: code, standardOutput: result.standardOutput, standardError: result.standardError)
    }

    /// The folder holding this test process's temporary folders. It is removed when the
    /// process exits, with everything in it, so test runs leave nothing behind in /tmp
    /// (they piled up there, some holding whole generated trusts).
    static let scratchRootPath = NSTemporaryDirectory() + "provision-test-files-\(getpid())"

    /// ``scratchRootPath``, made once on first use, or why it could not be (each folder
    /// asked for then throws it).
    static let scratchRoot = Swift.Result<String, any Error> {
        try? FileManager.default.removeItem(atPath: scratchRootPath)
        try FileManager.default.createDirectory(atPath: scratchRootPath, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: scratchRootPath)
        atexit { try? FileManager.default.removeItem(atPath: TestProcess.scratchRootPath) }
        return scratchRootPath
    }

    /// A new empty temporary folder that the postgres user can reach too, removed when the
    /// test process exits.
    public static func temporaryDirectory(_ label: String) throws -> String {
        let path = try scratchRoot.get() + "/\(label)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        return path
    }

    /// Writes a minimal valid configuration pointing at `databaseURL` and returns its path.
    public static func writeConfig(
        in folder: String, databaseURL: String?, extra: String = ""
    ) throws -> String {
        var text = """
            [trust]
            name = "Test Trust"
            send_lead = ["lead@trust.example"]

            [state]
            dir = "state"

            """
        if let databaseURL { text += "[database]\nurl = \"\(databaseURL)\"\n\n" }
        text += extra
        let path = folder + "/provision.toml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}
