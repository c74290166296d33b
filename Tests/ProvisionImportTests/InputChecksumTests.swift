import Foundation
import ProvisionImport
import ProvisionTestSupport
import Synchronization
import Testing

/// Hashing an export must not occupy the cooperative pool: a source whose reads block (a
/// stalled network mount, here a FIFO with no data yet) would otherwise stall every task.
@Suite("input checksum")
struct InputChecksumTests {
    @Test func hashesBlockedInReadsLeaveTheCooperativePoolFree() async throws {
        let folder = try TestProcess.temporaryDirectory("checksum")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let plugin = try TestPlugin.make(in: folder, body: "cat \"$2\"").manifest
        try "x".write(toFile: folder + "/plain.ndjson", atomically: true, encoding: .utf8)
        let expected = try InputChecksum.compute(path: folder + "/plain.ndjson", plugin: plugin)

        // One more blocked hash than the pool has threads.
        let fifos = (0...ProcessInfo.processInfo.activeProcessorCount).map { folder + "/fifo\($0).ndjson" }
        for fifo in fifos { #expect(mkfifo(fifo, 0o600) == 0) }
        let hashes = fifos.map { fifo in Task { try await InputChecksum.computeOffPool(path: fifo, plugin: plugin) } }

        // A plain thread plays the writer: it waits until every hash holds its FIFO open,
        // then until the probe task below has run, and only then sends the data.
        let everyReaderWaiting = Flag()
        let probeRan = DispatchSemaphore(value: 0)
        let probeRanFirst = Flag()
        let writerDone = DispatchSemaphore(value: 0)
        let writer = Thread {
            let deadline = Date().addingTimeInterval(30)
            var descriptors: [Int32] = []
            for fifo in fifos {
                var fd: Int32 = -1
                // A non-blocking open for writing succeeds only once a reader has the FIFO open.
                while fd < 0 && Date() < deadline {
                    fd = open(fifo, O_WRONLY | O_NONBLOCK)
                    if fd < 0 { usleep(5_000) }
                }
                descriptors.append(fd)
            }
            everyReaderWaiting.set(descriptors.allSatisfy { $0 >= 0 })
            probeRanFirst.set(probeRan.wait(timeout: .now() + 30) == .success)
            for (fifo, opened) in zip(fifos, descriptors) {
                // A hash that never started (the pool was starved) gets its data when it does.
                let fd = opened >= 0 ? opened : open(fifo, O_WRONLY)
                _ = write(fd, "x", 1)
                close(fd)
            }
            writerDone.signal()
        }
        writer.start()

        // Needs a pool thread to run at all.
        let probe = Task.detached {
            while !everyReaderWaiting.value { try await Task.sleep(for: .milliseconds(5)) }
            probeRan.signal()
        }
        for hash in hashes { #expect(try await hash.value == expected) }
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            Thread { writerDone.wait(); done.resume() }.start()
        }
        probe.cancel()
        #expect(everyReaderWaiting.value, "not every hash reached its FIFO")
        #expect(probeRanFirst.value, "the blocked hashes starved the cooperative pool")
    }
}

/// A Bool shared between a plain thread and tasks.
private final class Flag: Sendable {
    private let state = Mutex(false)
    var value: Bool { state.withLock { $0 } }
    func set(_ newValue: Bool) { state.withLock { $0 = newValue } }
}
