import Foundation
@testable import ProvisionImport
import ProvisionTestSupport
import Synchronization
import Testing

/// Hashing an export must not occupy the cooperative pool: a source whose reads block (a
/// stalled network mount) would otherwise stall every task. And only regular files are
/// hashed: a FIFO or a device in a source's place would hold the worker for ever.
@Suite("input checksum")
struct InputChecksumTests {
    // The hash's reads stand in for a stalled mount's: reads of FIFOs with no data yet
    // (which the hash itself now refuses, below).
    @Test func readsBlockedOffThePoolLeaveTheCooperativePoolFree() async throws {
        let folder = try TestProcess.temporaryDirectory("checksum")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let expected = "x"

        // One more blocked read than the pool has threads.
        let fifos = (0...ProcessInfo.processInfo.activeProcessorCount).map { folder + "/fifo\($0).ndjson" }
        for fifo in fifos { #expect(mkfifo(fifo, 0o600) == 0) }
        let hashes = fifos.map { fifo in Task {
            try await InputChecksum.offPool { String(decoding: try FileHandle(forReadingAtPath: fifo)?.readToEnd() ?? Data(), as: UTF8.self) }
        } }

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

    @Test func aFIFOOrADeviceInASourcesPlaceIsRefusedWithoutWaiting() async throws {
        let folder = try TestProcess.temporaryDirectory("checksum-kinds")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let plugin = try TestPlugin.make(in: folder, body: "cat \"$2\"").manifest
        // A folder source with one good export and a FIFO nobody writes to; a file source
        // that is a link to /dev/zero.
        try FileManager.default.createDirectory(atPath: folder + "/drop", withIntermediateDirectories: true)
        try "x".write(toFile: folder + "/drop/a.ndjson", atomically: true, encoding: .utf8)
        #expect(mkfifo(folder + "/drop/b.ndjson", 0o600) == 0)
        try FileManager.default.createSymbolicLink(atPath: folder + "/zero.ndjson", withDestinationPath: "/dev/zero")
        for (path, kind) in [(folder + "/drop", "drop/b.ndjson is a FIFO"), (folder + "/zero.ndjson", "zero.ndjson is a device")] {
            // Before the check, the FIFO's open waited for a writer for ever, and /dev/zero
            // never ended: a minute's grace turns such a hang into a failure (unstructured
            // tasks, as a task group would wait for the hung one).
            let outcome = await withCheckedContinuation { (done: CheckedContinuation<String?, Never>) in
                let answer = FirstAnswer(done)
                Task.detached {
                    do {
                        _ = try await InputChecksum.computeOffPool(path: path, plugin: plugin)
                        answer.give("hashed")
                    } catch {
                        answer.give("\(error)")
                    }
                }
                Task.detached {
                    try? await Task.sleep(for: .seconds(60))
                    answer.give(nil)
                }
            }
            #expect(outcome?.contains(kind + ", not a regular file: only files are imported") == true, "\(outcome ?? "still hashing after a minute")")
        }
    }
}

/// A Bool shared between a plain thread and tasks.
private final class Flag: Sendable {
    private let state = Mutex(false)
    var value: Bool { state.withLock { $0 } }
    func set(_ newValue: Bool) { state.withLock { $0 = newValue } }
}

/// Resumes a continuation with the first answer given; later ones are dropped.
private final class FirstAnswer: Sendable {
    private let continuation: Mutex<CheckedContinuation<String?, Never>?>
    init(_ continuation: CheckedContinuation<String?, Never>) { self.continuation = Mutex(continuation) }
    func give(_ value: String?) { continuation.withLock { $0.take() }?.resume(returning: value) }
}
