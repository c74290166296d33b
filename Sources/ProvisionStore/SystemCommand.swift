import Foundation
import Subprocess

#if canImport(System)
    import System
#else
    @preconcurrency import SystemPackage
#endif

/// Runs a short-lived system tool (initdb, pg_ctl, runuser) and collects its output.
///
/// For the product's own helpers only; importer plugins go through the plugin runner, which
/// limits and sandboxes them.
struct SystemCommand {
    struct Output {
        let exitCode: Int32?
        let standardOutput: String
        let standardError: String
        var succeeded: Bool { exitCode == 0 }
    }

    /// Runs `executable` with `arguments`; as `user` (through `runuser`) when given and we are root.
    static func run(
        _ executable: String, _ arguments: [String], asUser user: String? = nil,
        workingDirectory: String = "/"
    ) async throws -> Output {
        var program = executable
        var argv = arguments
        if let user {
            program = "/usr/sbin/runuser"
            if !FileManager.default.isExecutableFile(atPath: program) { program = "/sbin/runuser" }
            argv = ["-u", user, "--", executable] + arguments
        }
        let result = try await Subprocess.run(
            .path(FilePath(program)), arguments: Arguments(argv),
            workingDirectory: FilePath(workingDirectory),
            output: .string(limit: 1 << 20), error: .string(limit: 1 << 20))
        let code: Int32?
        switch result.terminationStatus {
        case .exited(let value): code = value
        default: code = nil
        }
        return Output(
            exitCode: code, standardOutput: result.standardOutput,
            standardError: result.standardError)
    }
}
