import Foundation

/// Writes a file in pieces with pauses between them, as a MIS exporting a large file does,
/// on a thread of its own: the pauses are the scenario, so they must not stretch because the
/// tests around have the cooperative pool busy. Returns how long each pause really lasted.
public enum SlowWriter {
    /// Appends `pieces` to the file at `path` (truncated first when `truncate`), pausing
    /// `pause` after each piece but the last.
    public static func write(
        _ pieces: [[UInt8]], to path: String, pause: Duration, truncate: Bool = true
    ) async throws -> [Duration] {
        try await withCheckedThrowingContinuation { (done: CheckedContinuation<[Duration], any Error>) in
            let thread = Thread {
                do {
                    if !FileManager.default.fileExists(atPath: path) {
                        _ = FileManager.default.createFile(atPath: path, contents: nil)
                    }
                    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
                    if truncate { try handle.truncate(atOffset: 0) } else { try handle.seekToEnd() }
                    var pauses: [Duration] = []
                    for (index, piece) in pieces.enumerated() {
                        try handle.write(contentsOf: Data(piece))
                        if index < pieces.count - 1 {
                            let started = ContinuousClock.now
                            Thread.sleep(forTimeInterval: Double(pause.components.seconds) + Double(pause.components.attoseconds) / 1e18)
                            pauses.append(ContinuousClock.now - started)
                        }
                    }
                    try handle.close()
                    done.resume(returning: pauses)
                } catch {
                    done.resume(throwing: error)
                }
            }
            thread.start()
        }
    }
}
