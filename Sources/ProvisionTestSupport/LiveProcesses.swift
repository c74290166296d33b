import Foundation

/// The machine's live processes, read from /proc: how a test proves that nothing a plugin
/// started outlived it, even a child in a session (or PID namespace) of its own.
public enum LiveProcesses {
    /// Process ids whose command line contains `text`; zombies (dead, not yet reaped) are not live.
    public static func matching(_ text: String) -> [Int32] {
        let ids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { Int32($0) }
        return ids.filter { pid in
            guard let handle = FileHandle(forReadingAtPath: "/proc/\(pid)/cmdline"),
                let bytes = try? handle.readToEnd()
            else { return false }
            try? handle.close()
            let commandLine = String(decoding: bytes.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
            guard commandLine.contains(text) else { return false }
            return !isZombie(pid)
        }
    }

    /// Waits, up to `seconds`, until no live process's command line contains `text`.
    public static func noneMatch(_ text: String, seconds: Double = 5) async -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            if matching(text).isEmpty { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return matching(text).isEmpty
    }

    private static func isZombie(_ pid: Int32) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: "/proc/\(pid)/stat"), let bytes = try? handle.readToEnd() else {
            return true
        }
        try? handle.close()
        let stat = String(decoding: bytes, as: UTF8.self)
        guard let close = stat.lastIndex(of: ")"), stat.distance(from: close, to: stat.endIndex) > 2 else { return false }
        return stat[stat.index(close, offsetBy: 2)] == "Z"
    }
}
