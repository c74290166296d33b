import CLibPQ
import Foundation

/// A notification received on a channel this connection listens to.
public struct PostgresNotification: Sendable, Equatable {
    public let channel: String
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
    /// socket rather than polling the server.
    ///
    /// - Returns: the next notification, or `nil` after the timeout.
    /// - Throws: `connectionLost` when the server goes away while waiting.
    public func nextNotification(timeout: Duration) throws -> PostgresNotification? {
        let conn = try liveHandle()
        let deadline = ContinuousClock.now + timeout
        while true {
            guard PQconsumeInput(conn) == 1 else { throw connectionError(conn, sql: nil) }
            if let notice = PQnotifies(conn) {
                defer { PQfreemem(notice) }
                return PostgresNotification(
                    channel: String(cString: notice.pointee.relname),
                    payload: notice.pointee.extra.map { String(cString: $0) } ?? "",
                    senderPID: Int(notice.pointee.be_pid))
            }
            let remaining = ContinuousClock.now.duration(to: deadline)
            if remaining <= .zero { return nil }
            let socket = PQsocket(conn)
            guard socket >= 0 else { throw connectionError(conn, sql: nil) }
            var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
            let milliseconds = max(1, Int32(clamping: remaining.components.seconds * 1000
                + remaining.components.attoseconds / 1_000_000_000_000_000))
            let ready = poll(&descriptor, 1, milliseconds)
            if ready < 0 && errno != EINTR {
                throw PostgresError(code: .connectionLost, message: "waiting on the socket failed: errno \(errno)")
            }
        }
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
