import Foundation
import ProvisionConfig
import ProvisionModel
import Subprocess

#if canImport(System)
    import System
#else
    @preconcurrency import SystemPackage
#endif

/// Limits on one plugin run, and the sandbox it runs in.
public struct PluginLimits: Sendable {
    /// Wall-clock limit; the process group is killed when it passes.
    public var timeout: Duration
    /// The most stdout read before the process group is killed.
    public var maxStdoutBytes: Int
    /// The most stderr kept (more is counted).
    public var maxStderrBytes: Int
    /// How the plugin is confined.
    public var sandbox: PluginSandbox

    /// Limits with every setting given.
    public init(
        timeout: Duration = .seconds(600), maxStdoutBytes: Int = 2 << 30, maxStderrBytes: Int = 1 << 20,
        sandbox: PluginSandbox = PluginSandbox()
    ) {
        self.timeout = timeout
        self.maxStdoutBytes = maxStdoutBytes
        self.maxStderrBytes = maxStderrBytes
        self.sandbox = sandbox
    }

    /// The limits and sandbox `[plugins]` sets, with a source's own time limit.
    public init(_ plugins: ProvisionConfig.Configuration.Plugins, timeoutSeconds: Int) {
        self.init(
            timeout: .seconds(timeoutSeconds), maxStdoutBytes: plugins.maxStdoutBytes,
            maxStderrBytes: plugins.maxStderrBytes, sandbox: PluginSandbox(plugins))
    }
}

/// How a plugin run ended, as far as the process is concerned.
public struct PluginRunOutcome: Sendable {
    /// How the process ended.
    public enum Ending: Sendable, Equatable, CustomStringConvertible {
        case exited(Int32)
        case signalled(Int32)
        /// The wall-clock limit passed; the process group was killed.
        case timedOut(Duration)
        /// stdout passed its cap; the process group was killed.
        case outputTooLarge(Int)

        public var description: String {
            switch self {
            case .exited(let code): "exited with status \(code)"
            case .signalled(let signal): "killed by signal \(signal)"
            case .timedOut(let limit): "did not finish within \(limit.components.seconds) s and was killed"
            case .outputTooLarge(let cap): "wrote more than \(cap) bytes to stdout and was killed"
            }
        }
    }

    /// How the process ended.
    public let ending: Ending
    /// The start of the plugin's stderr, up to the cap (more is counted, not kept), with
    /// control characters escaped so it can be stored and printed safely.
    public let standardError: String
    /// Bytes of stderr beyond the cap, counted and dropped.
    public let stderrBytesDropped: Int
    /// Bytes read from stdout.
    public let stdoutBytes: Int
    /// Lines read from stdout.
    public let lines: Int

    /// True when the plugin exited with status 0.
    public var succeeded: Bool { ending == .exited(0) }
}

/// Failures of the runner itself (not of the plugin).
public struct PluginLaunchError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    public let message: String
    public var description: String { message }
}

/// Runs an importer plugin as an untrusted child process (DESIGN §4).
///
/// The child gets `--source PATH`, stdin from /dev/null, a fresh scratch folder as working
/// directory and an environment of only `PATH`, `LANG`, `TZ`, `PROVISION_PROTOCOL`,
/// `PROVISION_SCHOOLS` and the source's own `env` — nothing of the supervisor's, so no
/// database URL or password can reach it. It runs inside the ``PluginSandbox`` (bubblewrap
/// by default), started in a process group of its own, so the wall-clock limit, the stdout
/// cap or a cancelled task kills the sandbox and, with it, everything the plugin started.
public enum PluginRunner {
    /// The environment a plugin sees.
    public static func environment(schools: [String], extra: [String: String]) -> [String: String] {
        var environment = extra
        environment["PATH"] = "/usr/local/bin:/usr/bin:/bin"
        environment["LANG"] = "C.UTF-8"
        environment["TZ"] = ProcessInfo.processInfo.environment["TZ"] ?? "Europe/London"
        environment["PROVISION_PROTOCOL"] = "1"
        environment["PROVISION_SCHOOLS"] = schools.joined(separator: ",")
        return environment
    }

    /// Runs the plugin and hands each stdout line (without its newline) to `onLine` in order.
    ///
    /// If `onLine` throws, the plugin's process group is killed and the error is rethrown
    /// once the child has been reaped. Parameters as for the other `run`.
    public static func run(
        _ manifest: PluginManifest, source: String, schools: [String], extraEnvironment: [String: String] = [:],
        limits: PluginLimits, scratchRoot: String, maxLineBytes: Int = 1 << 20,
        onLine: (ArraySlice<UInt8>, Int) async throws -> Void
    ) async throws -> PluginRunOutcome {
        try await run(
            manifest, source: source, schools: schools, extraEnvironment: extraEnvironment, limits: limits,
            scratchRoot: scratchRoot, maxLineBytes: maxLineBytes
        ) { bytes, lines, first in
            for (offset, range) in lines.enumerated() { try await onLine(bytes[range], first + offset) }
        }
    }

    /// Runs the plugin and hands its stdout lines to `onLines` in order, as many at a time as
    /// a read of its output completed: `bytes` holds them, `lines` are their ranges in it
    /// (without newlines), and `first` is the number of the first. One call per read rather
    /// than one per line: a call per line cost about 0.35 s of the supervisor's 2.1 s of CPU
    /// re-importing a million unchanged lines.
    ///
    /// If `onLines` throws, the plugin's process group is killed and the error is rethrown
    /// once the child has been reaped.
    ///
    /// - Parameters:
    ///   - manifest: the plugin.
    ///   - source: the file or folder to read.
    ///   - schools: URNs the source is bound to.
    ///   - extraEnvironment: the source's `env`.
    ///   - limits: time and output limits.
    ///   - scratchRoot: a folder under which a fresh scratch folder is made and removed after.
    ///   - maxLineBytes: a line longer than this fails the run.
    ///   - onLines: called with lines, their ranges and the 1-based number of the first.
    public static func run(
        _ manifest: PluginManifest, source: String, schools: [String], extraEnvironment: [String: String] = [:],
        limits: PluginLimits, scratchRoot: String, maxLineBytes: Int = 1 << 20,
        onLines: ([UInt8], [Range<Int>], Int) async throws -> Void
    ) async throws -> PluginRunOutcome {
        // Sandboxed plugins get a private tmpfs; only an unsandboxed one needs a folder on disk.
        var scratch: String?
        if limits.sandbox.mode == .none {
            let folder = scratchRoot + "/run-\(UUID().uuidString.lowercased())"
            do {
                try PrivateFiles.createFolder(scratchRoot)
                try PrivateFiles.createFolder(folder)
            } catch {
                throw PluginLaunchError(message: "cannot create the scratch folder \(folder): \(error)")
            }
            scratch = folder
        }
        defer { if let scratch { try? FileManager.default.removeItem(atPath: scratch) } }
        let command = try limits.sandbox.command(
            manifest: manifest, source: source, environment: extraEnvironment, scratch: scratch)

        var options = PlatformOptions()
        options.processGroupID = 0  // a new group whose id is the child's pid
        let environment = Self.environment(schools: schools, extra: extraEnvironment)
        let monitor = RunMonitor()
        let result: ExecutionResult<ReaderResult, SequenceOutput, SequenceOutput>
        do {
            result = try await Subprocess.run(
                .path(FilePath(command.program)), arguments: Arguments(command.arguments),
                environment: .custom(Dictionary(uniqueKeysWithValues: environment.map { (Environment.Key(stringLiteral: $0.key), $0.value) })),
                workingDirectory: FilePath(command.workingDirectory ?? "/"), platformOptions: options,
                input: .none, output: .sequence, error: .sequence
            ) { execution in
                let group = execution.processIdentifier.value
                return await withTaskCancellationHandler {
                    await readOutput(
                        execution, group: group, limits: limits, maxLineBytes: maxLineBytes, monitor: monitor,
                        onLines: onLines)
                } onCancel: {
                    kill(-group, SIGKILL)
                }
            }
        } catch let error as SubprocessError {
            throw PluginLaunchError(message: "could not start \(manifest.executable): \(error)")
        }
        let reader = result.closureResult
        if let failure = reader.failure { throw failure }
        if Task.isCancelled { throw CancellationError() }
        let ending: PluginRunOutcome.Ending
        if let forced = monitor.forcedEnding {
            ending = forced
        } else {
            switch result.terminationStatus {
            case .exited(let code): ending = .exited(code)
            case .signaled(let signal): ending = .signalled(signal)
            }
        }
        return PluginRunOutcome(
            ending: ending, standardError: EscapedText.escaped(bytes: reader.stderr),
            stderrBytesDropped: reader.stderrDropped, stdoutBytes: reader.stdoutBytes, lines: reader.lines)
    }

    struct ReaderResult: Sendable {
        var stderr: [UInt8] = []
        var stderrDropped = 0
        var stdoutBytes = 0
        var lines = 0
        var failure: (any Error)?
    }

    /// Records why the supervisor killed the child, set from the timer task.
    final class RunMonitor: @unchecked Sendable {
        private let lock = NSLock()
        private var ending: PluginRunOutcome.Ending?
        var forcedEnding: PluginRunOutcome.Ending? { lock.withLock { ending } }
        func force(_ value: PluginRunOutcome.Ending) {
            lock.withLock { if ending == nil { ending = value } }
        }
    }

    /// The index of the first newline in `bytes` at or after `start`, found by `memchr`
    /// (searching byte by byte was 4% of `provisionctl plugin check`'s time).
    static func newlineIndex(in bytes: [UInt8], from start: Int) -> Int? {
        bytes.withUnsafeBufferPointer { buffer in
            guard start < buffer.count, let base = buffer.baseAddress,
                let found = memchr(base + start, 0x0A, buffer.count - start)
            else { return nil }
            return UnsafeRawPointer(base).distance(to: UnsafeRawPointer(found))
        }
    }

    private static func readOutput(
        _ execution: Execution<NoInput, SequenceOutput, SequenceOutput>, group: pid_t, limits: PluginLimits,
        maxLineBytes: Int, monitor: RunMonitor, onLines: ([UInt8], [Range<Int>], Int) async throws -> Void
    ) async -> ReaderResult {
        let stderrStream = execution.standardError
        let stdoutStream = execution.standardOutput
        let cap = limits.maxStderrBytes
        return await withTaskGroup(of: ReaderResult?.self) { tasks in
            tasks.addTask {
                var kept: [UInt8] = []
                var dropped = 0
                do {
                    for try await chunk in stderrStream {
                        chunk.withUnsafeBytes { bytes in
                            let room = max(0, cap - kept.count)
                            kept.append(contentsOf: bytes.prefix(room))
                            dropped += max(0, bytes.count - room)
                        }
                    }
                } catch {}
                return ReaderResult(stderr: kept, stderrDropped: dropped)
            }
            tasks.addTask {
                try? await Task.sleep(for: limits.timeout)
                if !Task.isCancelled {
                    monitor.force(.timedOut(limits.timeout))
                    kill(-group, SIGKILL)
                }
                return nil
            }
            var result = ReaderResult()
            var pending: [UInt8] = []
            var complete: [Range<Int>] = []
            var startSeen = false
            do {
                for try await chunk in stdoutStream {
                    result.stdoutBytes += chunk.count
                    if result.stdoutBytes > limits.maxStdoutBytes {
                        monitor.force(.outputTooLarge(limits.maxStdoutBytes))
                        kill(-group, SIGKILL)
                        break
                    }
                    chunk.withUnsafeBytes { pending.append(contentsOf: $0) }
                    if !startSeen, pending.count >= 3 || pending.contains(0x0A) {
                        startSeen = true
                        // A UTF-8 byte-order mark before the first line, as Windows
                        // PowerShell's `Out-File -Encoding utf8` writes, is ignored (RFC 8259
                        // lets a parser ignore one); it made the header "not valid JSON".
                        if pending.starts(with: [0xEF, 0xBB, 0xBF]) { pending.removeFirst(3) }
                    }
                    var start = 0
                    complete.removeAll(keepingCapacity: true)
                    while let newline = newlineIndex(in: pending, from: start) {
                        complete.append(start..<newline)
                        start = newline + 1
                    }
                    if !complete.isEmpty {
                        try await onLines(pending, complete, result.lines + 1)
                        result.lines += complete.count
                    }
                    pending.removeFirst(start)
                    if pending.count > maxLineBytes {
                        throw PluginOutputError(message: "line \(result.lines + 1) is longer than \(maxLineBytes) bytes")
                    }
                }
                if !pending.isEmpty && monitor.forcedEnding == nil {
                    try await onLines(pending, [0..<pending.count], result.lines + 1)
                    result.lines += 1
                }
            } catch {
                result.failure = error
                kill(-group, SIGKILL)
            }
            for await partial in tasks {
                if let partial {
                    result.stderr = partial.stderr
                    result.stderrDropped = partial.stderrDropped
                    tasks.cancelAll()  // stderr is done: stop the timer
                }
            }
            return result
        }
    }
}

/// The plugin's output could not be read as lines (a line over the limit).
public struct PluginOutputError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    public let message: String
    public var description: String { message }
}
