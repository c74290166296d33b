import Foundation
@testable import ProvisionSupervisor
import ProvisionTestSupport
import Testing

/// The export watcher against the real kernel (inotify): what it reports for folder and file
/// sources, and what it ignores.
@Suite struct ExportWatcherTests {
    /// The events until `stop` holds for one (or the stream ends), at most `seconds`: a
    /// minute, since a busy CI machine has held this process's tasks up for over ten seconds.
    static func events(
        _ watcher: ExportWatcher, seconds: Double = 60, until stop: @escaping @Sendable (ExportWatcher.Event) -> Bool
    ) async -> [ExportWatcher.Event] {
        await withTaskGroup(of: [ExportWatcher.Event]?.self) { group in
            group.addTask {
                var seen: [ExportWatcher.Event] = []
                for await event in watcher.events where event != .tick {
                    seen.append(event)
                    if stop(event) { break }
                }
                return seen
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(seconds))
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? []
        }
    }

    @Test func aFileDroppedIntoAWatchedFolderSettlesOnceAfterItsLastPiece() async throws {
        let folder = try TestProcess.temporaryDirectory("watch-folder")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.createDirectory(atPath: folder + "/drop", withIntermediateDirectories: true)
        let watcher = try ExportWatcher(sources: [("drop", folder + "/drop")], settle: .seconds(2), tickEvery: .seconds(3))
        defer { watcher.stop() }
        #expect(watcher.missing.isEmpty)
        // An export written in pieces, each much sooner than the settle time (so a writer held
        // up by a loaded machine still is): one event, after the last, then quiet until the tick.
        let collecting = Task { () -> [ExportWatcher.Event] in
            var seen: [ExportWatcher.Event] = []
            for await event in watcher.events {
                seen.append(event)
                if event == .tick && seen.contains(.settled("drop")) { break }
            }
            return seen
        }
        // A new file in the folder, written in three pieces 100 ms apart by a writer on a
        // thread of its own.
        let pauses = try await SlowWriter.write(
            [Array("part 1,".utf8), Array("part 2,".utf8), Array("part 3".utf8)], to: folder + "/drop/export.csv",
            pause: .milliseconds(100))
        let seen = await collecting.value.filter { $0 != .tick }
        #expect(pauses.allSatisfy { $0 < .milliseconds(1_900) }, "the writer's pauses stayed shorter than the settle time: \(pauses)")
        #expect(seen == [.settled("drop")])
    }

    @Test func aFileSourceSeesItsOwnReplacementAndNotItsNeighbours() async throws {
        let folder = try TestProcess.temporaryDirectory("watch-file")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try "v1".write(toFile: folder + "/export.xml", atomically: true, encoding: .utf8)
        let watcher = try ExportWatcher(
            sources: [("ctf", folder + "/export.xml"), ("missing", folder + "/not-yet/export.csv")], settle: .milliseconds(200))
        defer { watcher.stop() }
        #expect(watcher.missing == ["missing"])
        // A neighbour changes first: nothing for the source. Then the export is replaced by a
        // rename, as a MIS writes it: one event, for the source.
        try "other".write(toFile: folder + "/notes.txt", atomically: false, encoding: .utf8)
        try "v2".write(toFile: folder + "/export.xml", atomically: true, encoding: .utf8)
        let seen = await Self.events(watcher) { $0 == .settled("ctf") }
        #expect(seen == [.settled("ctf")])
    }

    @Test func aWatchedFolderThatGoesAwayAsksToBeWatchedAgain() async throws {
        let folder = try TestProcess.temporaryDirectory("watch-gone")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.createDirectory(atPath: folder + "/drop", withIntermediateDirectories: true)
        let watcher = try ExportWatcher(sources: [("drop", folder + "/drop")], settle: .milliseconds(200))
        defer { watcher.stop() }
        try FileManager.default.removeItem(atPath: folder + "/drop")
        let seen = await Self.events(watcher) { $0 == .rewatch }
        #expect(seen.last == .rewatch)
    }

    @Test func stoppingEndsTheEvents() async throws {
        let folder = try TestProcess.temporaryDirectory("watch-stop")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let watcher = try ExportWatcher(sources: [("drop", folder)], settle: .milliseconds(200), tickEvery: .seconds(60))
        watcher.stop()
        // The stream ends (the reading thread returned); the 60 s tick would not end it.
        let ended = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                for await _ in watcher.events {}
                return true
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(50))
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        #expect(ended)
    }
}
