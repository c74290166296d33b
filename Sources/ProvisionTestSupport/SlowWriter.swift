import Foundation
import ProvisionModel

/// Writes a file in pieces with pauses between them, as a MIS exporting a large file does,
/// on a thread of its own: the pauses are the scenario, so they must not stretch because the
/// tests around have the cooperative pool busy. Returns how long each pause really lasted.
public enum SlowWriter {
    /// Writes `pieces` into the file at `path` (created or emptied first), pausing `pause`
    /// after each piece but the last.
    public static func write(_ pieces: [[UInt8]], to path: String, pause: Duration) async throws -> [Duration] {
        try await withCheckedThrowingContinuation { (done: CheckedContinuation<[Duration], any Error>) in
            let thread = Thread {
                do {
                    if !FileManager.default.fileExists(atPath: path) {
                        _ = FileManager.default.createFile(atPath: path, contents: nil)
                    }
                    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
                    try handle.truncate(atOffset: 0)
                    var pauses: [Duration] = []
                    for (index, piece) in pieces.enumerated() {
                        try handle.write(contentsOf: Data(piece))
                        if index < pieces.count - 1 {
                            let started = ContinuousClock.now
                            Thread.sleep(forTimeInterval: pause.seconds)
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
