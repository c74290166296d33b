import Foundation
import ProvisionModel

#if os(Linux)
    import Glibc
#endif

/// Watches sources' exports and says when one has changed and then stayed quiet for the
/// settle time, so a MIS writing a large file (or several files) in steps is imported once,
/// whole.
///
/// On Linux it uses inotify on each export's folder (a file source is watched through its
/// folder, so an export replaced by rename is seen too). The events are read on a thread of
/// its own, which sleeps in `poll` on the inotify descriptor and a wake-up pipe, never on
/// the cooperative pool. Every few seconds it also says `tick`, so its owner can notice a
/// reloaded configuration or a folder that has appeared.
final class ExportWatcher: @unchecked Sendable {
    // @unchecked: after `init`, the watch table and the pending deadlines are touched only by
    // the reading thread; `stop()` only signals the pipe.

    enum Event: Sendable, Equatable {
        /// The source's export changed and has been quiet for the settle time.
        case settled(String)
        /// A watched folder went away (deleted or renamed): watch again.
        case rewatch
        /// Nothing happened for a while.
        case tick
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    let events: AsyncStream<Event>
    /// Sources whose path does not exist yet (not watched until it does).
    let missing: [String]
    private let continuation: AsyncStream<Event>.Continuation

    #if os(Linux)
        private let inotify: Int32
        private let wake: WakeUpPipe
        /// Watch descriptor → the sources it serves, with the file name a file source needs.
        private var watches: [Int32: [(source: String, name: String?)]] = [:]
        private var pending: [String: ContinuousClock.Instant] = [:]
        private let settle: Duration
        private let tickEvery: Duration
    #endif

    /// Starts watching `sources` (name and path); throws when the system cannot watch.
    init(sources: [(name: String, path: String)], settle: Duration, tickEvery: Duration = .seconds(5)) throws {
        (events, continuation) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .unbounded)
        #if os(Linux)
            self.settle = settle
            self.tickEvery = tickEvery
            // IN_CLOEXEC | IN_NONBLOCK
            inotify = inotify_init1(0o2000000 | 0o4000)
            guard inotify >= 0 else { throw Failure(description: "cannot start inotify: errno \(errno)") }
            do {
                wake = try WakeUpPipe()
            } catch {
                close(inotify)
                throw Failure(description: error.description)
            }
            var missing: [String] = []
            for source in sources {
                var isFolder: ObjCBool = false
                guard FileManager.default.fileExists(atPath: source.path, isDirectory: &isFolder) else {
                    missing.append(source.name)
                    continue
                }
                let folder = isFolder.boolValue ? source.path : (source.path as NSString).deletingLastPathComponent
                let name = isFolder.boolValue ? nil : (source.path as NSString).lastPathComponent
                // Writes finished, files moved or created in, deleted or moved out; and the
                // folder itself going away.
                let mask: UInt32 = 0x8 | 0x80 | 0x100 | 0x200 | 0x40 | 0x2 | 0x400 | 0x800
                let descriptor = inotify_add_watch(inotify, folder, mask)
                guard descriptor >= 0 else {
                    missing.append(source.name)
                    continue
                }
                watches[descriptor, default: []].append((source.name, name))
            }
            self.missing = missing
            let thread = Thread { [self] in readEvents() }
            thread.name = "export-watcher"
            thread.start()
        #else
            throw Failure(description: "watching exports needs Linux (inotify); use a cron schedule here")
        #endif
    }

    /// Stops the reading thread and ends `events`.
    func stop() {
        #if os(Linux)
            wake.signal()
        #endif
    }

    #if os(Linux)
        private func readEvents() {
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            var lastTick = ContinuousClock.now
            defer {
                close(inotify)
                continuation.finish()
            }
            while true {
                let now = ContinuousClock.now
                var wait = tickEvery - (now - lastTick)
                if let soonest = pending.values.min() { wait = min(wait, soonest - now) }
                switch wake.wait(untilReadable: inotify, timeout: wait) {
                case .signalled, .failed: return
                case .timedOut: break
                case .readable:
                    let count = buffer.withUnsafeMutableBytes { read(inotify, $0.baseAddress, $0.count) }
                    if count > 0 { handle(buffer[..<count]) }
                }
                let after = ContinuousClock.now
                for (source, deadline) in pending where deadline <= after {
                    pending[source] = nil
                    continuation.yield(.settled(source))
                }
                if after - lastTick >= tickEvery {
                    lastTick = after
                    continuation.yield(.tick)
                }
            }
        }

        /// Reads `struct inotify_event`s: wd, mask, cookie, len (4 bytes each), then the name.
        private func handle(_ bytes: ArraySlice<UInt8>) {
            var offset = bytes.startIndex
            func word(_ at: Int) -> UInt32 {
                UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
            }
            while offset + 16 <= bytes.endIndex {
                let descriptor = Int32(bitPattern: word(offset))
                let mask = word(offset + 4)
                let length = Int(word(offset + 12))
                guard offset + 16 + length <= bytes.endIndex else { break }
                let name = String(decoding: bytes[(offset + 16)..<(offset + 16 + length)].prefix { $0 != 0 }, as: UTF8.self)
                offset += 16 + length
                // IN_IGNORED, IN_DELETE_SELF, IN_MOVE_SELF: the watch is gone.
                if mask & (0x8000 | 0x400 | 0x800) != 0 {
                    continuation.yield(.rewatch)
                    continue
                }
                for watch in watches[descriptor] ?? [] where watch.name == nil || watch.name == name {
                    pending[watch.source] = ContinuousClock.now + settle
                }
            }
        }
    #endif
}
