import Foundation
import Synchronization

/// One status line on standard error, redrawn in place, for a long command run at a
/// terminal ("records so far, rate"). Silent when standard error is not a terminal (a log,
/// a pipe, cron) or when the user asked for quiet, so scripts never see it.
public final class TerminalProgress: Sendable {
    /// Whether anything is drawn at all.
    public let enabled: Bool
    private let state = Mutex<(lastDrawn: ContinuousClock.Instant?, visible: Bool)>((nil, false))

    /// A progress line for this process; `quiet` (the command's `--quiet`) turns it off.
    public init(quiet: Bool) {
        enabled = !quiet && isatty(STDERR_FILENO) == 1
    }

    /// Draws `text` in place of the previous line, at most five times a second unless `force`.
    public func show(_ text: String, force: Bool = false) {
        guard enabled else { return }
        let now = ContinuousClock.now
        let draw = state.withLock { state -> Bool in
            if !force, let last = state.lastDrawn, now - last < .milliseconds(200) { return false }
            state = (now, true)
            return true
        }
        // \r back to the start, the text, then erase whatever the longer previous line left.
        if draw { FileHandle.standardError.write(Data(("\r" + text + "\u{1B}[K").utf8)) }
    }

    /// Erases the line, so what the command prints next starts clean.
    public func finish() {
        guard enabled else { return }
        let visible = state.withLock { state in
            defer { state.visible = false }
            return state.visible
        }
        if visible { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }

    /// Bytes as KB, MB or GB (powers of 1,000, one decimal).
    public static func bytes(_ value: Int) -> String {
        let units = ["bytes", "KB", "MB", "GB", "TB"]
        var amount = Double(value)
        var unit = 0
        while amount >= 1000 && unit < units.count - 1 {
            amount /= 1000
            unit += 1
        }
        return unit == 0 ? "\(value) bytes" : String(format: "%.1f %@", amount, units[unit])
    }
}
