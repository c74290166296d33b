import CLibPQ
import Foundation
import ProvisionModel

/// A notification received on a channel this connection listens to.
public struct PostgresNotification: Sendable, Equatable {
    /// The channel it was sent on.
    public let channel: String
    /// The text sent with it (empty when none).
    public let payload: String
    /// The server process that sent it.
    public let senderPID: Int
}

extension PostgresConnection {
    /// Starts listening on `channel`. The name is quoted as an identifier by libpq.
    public func listen(_ channel: String) throws {
        try execute("LISTEN \(try quotedIdentifier(channel))")
    }

    /// Stops listening on `channel`.
    public func unlisten(_ channel: String) throws {
        try execute("UNLISTEN \(try quotedIdentifier(channel))")
    }

    /// Sends a notification; both values travel as parameters of `pg_notify`.
    public func notify(_ channel: String, payload: String = "") throws {
        try execute("SELECT pg_notify($1, $2)", channel, payload)
    }

    /// Waits until a notification arrives or `timeout` passes, sleeping on the connection's
    /// socket rather than polling the server. Cancelling the task wakes the wait at once
    /// (through a pipe the wait also sleeps on), so a service that waits a long time for
    /// work still stops the moment it is asked to.
    ///
    /// - Returns: the next notification, or `nil` after the timeout.
    /// - Throws: `connectionLost` when the server goes away while waiting;
    ///   `CancellationError` when the task is cancelled before anything arrives.
    public func nextNotification(timeout: Duration) async throws -> PostgresNotification? {
        let wake: WakeUpPipe
        do {
            wake = try WakeUpPipe()
        } catch {
            throw PostgresError(code: .connectionLost, message: error.description)
        }
        return try await withTaskCancellationHandler {
            try waitForNotification(until: ContinuousClock.now + timeout, wake: wake)
        } onCancel: {
            wake.signal()
        }
    }

    private func waitForNotification(until deadline: ContinuousClock.Instant, wake: WakeUpPipe) throws
        -> PostgresNotification?
    {
        let conn = try liveHandle()
        while true {
            guard PQconsumeInput(conn) == 1 else { throw connectionError(conn, sql: nil) }
            if let notice = PQnotifies(conn) {
                defer { PQfreemem(notice) }
                return PostgresNotification(
                    channel: String(cString: notice.pointee.relname),
                    payload: notice.pointee.extra.map { String(cString: $0) } ?? "",
                    senderPID: Int(notice.pointee.be_pid))
            }
            if Task.isCancelled { throw CancellationError() }
            let remaining = ContinuousClock.now.duration(to: deadline)
            if remaining <= .zero { return nil }
            let socket = PQsocket(conn)
            guard socket >= 0 else { throw connectionError(conn, sql: nil) }
            if case .failed(let errno) = wake.wait(untilReadable: socket, timeout: remaining) {
                throw PostgresError(code: .connectionLost, message: "waiting on the socket failed: errno \(errno)")
            }
        }
    }

    /// True when the connection is open, idle (not in a transaction), the server has not
    /// closed it and has sent nothing unread: what a pool, whose connections listen to no
    /// channel, checks before handing out a connection that waited unused.
    public var isIdleAndConnected: Bool {
        guard let conn = try? liveHandle() else { return false }
        // An idle session that listens to nothing is sent nothing unasked, except its goodbye:
        // a terminated one is sent a FATAL message and then the end of the stream. The FATAL
        // message is written before the server forgets the session, but the end of the stream
        // may come later, so anything waiting to be read means the session is ending.
        var socket = pollfd(fd: PQsocket(conn), events: Int16(POLLIN), revents: 0)
        if poll(&socket, 1, 0) > 0 {
            _ = PQconsumeInput(conn)
            return false
        }
        return PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) == PQTRANS_IDLE
    }

    /// Quotes a name as an SQL identifier with libpq's own escaping.
    public func quotedIdentifier(_ name: String) throws -> String {
        let conn = try liveHandle()
        guard let escaped = PQescapeIdentifier(conn, name, name.utf8.count) else {
            throw PostgresError(
                code: .protocolMisuse, message: Self.trimmed(PQerrorMessage(conn)) ?? "cannot quote identifier")
        }
        defer { PQfreemem(escaped) }
        return String(cString: escaped)
    }
}
