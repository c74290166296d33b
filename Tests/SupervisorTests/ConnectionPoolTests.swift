import Foundation
import Postgres
import ProvisionStore
@testable import ProvisionSupervisor
import ProvisionTestSupport
import Testing

/// The HTTP endpoints' bounded pool, against the real server: sessions counted in
/// `pg_stat_activity`, not by the pool's own word.
@Suite struct ConnectionPoolTests {
    static func pool(_ label: String, capacity: Int) async throws -> (ConnectionPool, ProvisionDatabase, String) {
        let database = ProvisionDatabase.external(try await TestPostgres.shared.freshDatabase(label))
        let name = "pool-\(UUID().uuidString.prefix(8))"
        return (ConnectionPool(database: database, capacity: capacity, applicationName: name), database, name)
    }

    static func sessions(_ database: ProvisionDatabase, _ name: String) async throws -> Int {
        try await database.withConnection { db in
            try await db.query("SELECT count(*)::int FROM pg_stat_activity WHERE application_name = $1", name).scalar(as: Int.self)
        }
    }

    @Test func aBurstOfRequestsSharesAtMostCapacitySessions() async throws {
        let (pool, database, name) = try await Self.pool("pool-burst", capacity: 2)
        let seen = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    try await pool.withConnection { db in
                        // Held a while, so the requests overlap.
                        _ = try await db.query("SELECT pg_sleep(0.1)")
                        return try await db.query(
                            "SELECT count(*)::int FROM pg_stat_activity WHERE application_name = $1", name
                        ).scalar(as: Int.self)
                    }
                }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(seen.count == 8)
        #expect(seen.max() == 2 && seen.min()! >= 1, "\(seen)")
        #expect(await pool.openConnections == 2)
        #expect(try await Self.sessions(database, name) == 2)

        await pool.close()
        #expect(await pool.openConnections == 0)
        await #expect(throws: ConnectionPool.Closed.self) { try await pool.withConnection { _ in 1 } }
        // The server ends the sessions as their sockets close; wait for that, bounded.
        #expect(try await eventually { try await Self.sessions(database, name) == 0 })
    }

    @Test func aSessionTheServerEndedIsNotHandedOutAgain() async throws {
        let (pool, database, _) = try await Self.pool("pool-terminated", capacity: 1)
        let first = try await pool.withConnection { db in await db.backendPID }
        try await database.withConnection { db in
            _ = try await db.query("SELECT pg_terminate_backend($1)", first)
            // Until the backend has gone, its socket may still look open.
            _ = try await eventually {
                try await db.query("SELECT count(*)::int FROM pg_stat_activity WHERE pid = $1", first).scalar(as: Int.self) == 0
            }
        }
        let (second, one) = try await pool.withConnection { db in (await db.backendPID, try await db.query("SELECT 1").scalar(as: Int.self)) }
        #expect(one == 1)
        #expect(second != first)
        #expect(await pool.openConnections == 1)
        await pool.close()
    }

    @Test func aCancelledWaiterLeavesTheQueue() async throws {
        let (pool, _, _) = try await Self.pool("pool-cancel", capacity: 1)
        let (holding, holdingWriter) = AsyncStream.makeStream(of: Void.self)
        let (release, releaseWriter) = AsyncStream.makeStream(of: Void.self)
        let holder = Task {
            try await pool.withConnection { _ in
                holdingWriter.yield()
                for await _ in release { break }
            }
        }
        for await _ in holding { break }
        let waiter = Task { try await pool.withConnection { db in try await db.query("SELECT 1").scalar(as: Int.self) } }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { _ = try await waiter.value }
        releaseWriter.yield()
        try await holder.value
        // The one connection is free again, and the cancelled waiter did not take a turn.
        #expect(try await pool.withConnection { db in try await db.query("SELECT 2").scalar(as: Int.self) } == 2)
        #expect(await pool.openConnections == 1)
        await pool.close()
    }
}
