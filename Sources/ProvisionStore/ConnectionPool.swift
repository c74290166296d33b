import Postgres
import ServiceLifecycle

/// A small bounded pool of database connections for the daemon's HTTP endpoints
/// (`/healthz`, `/metrics`, the console), so a burst of requests opens at most `capacity`
/// sessions and threads, not one per request.
///
/// Connections are opened when needed and kept; a request beyond capacity waits its turn
/// (cancelling it leaves the queue). A connection that the server closed while it waited,
/// that was left inside a transaction, or whose work failed with a connection error is
/// closed rather than handed out again. As a `Service`, the pool closes its connections on
/// shutdown; it is started before the endpoints and so stops after them.
public actor ConnectionPool: Service {
    /// Thrown to whoever asks for a connection after the pool closed.
    public struct Closed: Error, CustomStringConvertible {
        public var description: String { "the connection pool is closed (the daemon is stopping)" }
    }

    /// The most connections the pool holds at once.
    public nonisolated let capacity: Int
    private let database: ProvisionDatabase
    private let applicationName: String
    private var idle: [PostgresConnection] = []
    /// Connections that exist or are being opened: idle and leased alike.
    private var count = 0
    private var waiters: [(id: Int, turn: CheckedContinuation<Void, any Error>)] = []
    private var nextWaiter = 0
    private var closed = false

    /// A pool of at most `capacity` connections to `database`, named `applicationName` in
    /// `pg_stat_activity`.
    public init(database: ProvisionDatabase, capacity: Int, applicationName: String = "provisiond-http") {
        self.database = database
        self.capacity = max(1, capacity)
        self.applicationName = applicationName
    }

    /// Runs `body` with a connection of the pool and gives it back afterwards.
    public nonisolated func withConnection<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        let db = try await acquire()
        do {
            let value = try await body(db)
            await release(db, reusable: true)
            return value
        } catch {
            await release(db, reusable: !isConnectionLoss(error))
            throw error
        }
    }

    /// Waits for shutdown, then closes every connection and turns away whoever waits.
    public func run() async throws {
        try? await gracefulShutdown()
        await close()
    }

    /// Closes the idle connections now and the leased ones as they come back.
    public func close() async {
        closed = true
        let waiting = waiters
        waiters = []
        for waiter in waiting { waiter.turn.resume(throwing: Closed()) }
        let connections = idle
        idle = []
        count -= connections.count
        for db in connections { await db.close() }
    }

    /// Connections open now (idle or leased), for tests and metrics.
    public var openConnections: Int { count }

    private func acquire() async throws -> PostgresConnection {
        while true {
            if closed { throw Closed() }
            while let db = idle.popLast() {
                if await db.isIdleAndConnected { return db }
                count -= 1
                await db.close()
            }
            if count < capacity {
                count += 1
                do {
                    return try await database.connect(applicationName: applicationName)
                } catch {
                    count -= 1
                    wakeOne()
                    throw error
                }
            }
            try await waitForTurn()
        }
    }

    private func release(_ db: PostgresConnection, reusable: Bool) async {
        let healthy = reusable ? await db.isIdleAndConnected : false
        if healthy && !closed {
            idle.append(db)
        } else {
            count -= 1
            await db.close()
        }
        wakeOne()
    }

    private func wakeOne() {
        guard !waiters.isEmpty else { return }
        waiters.removeFirst().turn.resume()
    }

    private func waitForTurn() async throws {
        let id = nextWaiter
        nextWaiter += 1
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (turn: CheckedContinuation<Void, any Error>) in
                if Task.isCancelled {
                    turn.resume(throwing: CancellationError())
                } else {
                    waiters.append((id, turn))
                }
            }
        } onCancel: {
            Task { await self.leaveQueue(id) }
        }
    }

    private func leaveQueue(_ id: Int) {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return }
        waiters.remove(at: index).turn.resume(throwing: CancellationError())
    }
}

/// True for errors that mean the database went away, not that the work was wrong.
public func isConnectionLoss(_ error: any Error) -> Bool {
    guard let error = error as? PostgresError else { return false }
    if error.isConnectionProblem { return true }
    // Class 08 (connection exception) and 57P01–57P03: the server is shutting down or starting.
    guard let state = error.sqlState else { return false }
    return state.hasPrefix("08") || state == "57P01" || state == "57P02" || state == "57P03"
}
