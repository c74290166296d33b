import Foundation
import Postgres

/// The outbox at a glance: what `/healthz`, `/metrics` and `provisionctl status` show.
public struct MailOutboxCounts: Sendable, Equatable {
    /// Messages waiting to be handed to the transport (new or to be retried).
    public var pending = 0
    /// Messages given up on after a permanent failure or too many attempts.
    public var failed = 0
    /// When the oldest message still waiting was queued.
    public var oldestPending: Date?

    /// An empty outbox.
    public init() {}

    /// Counts `mail_outbox` in one statement.
    public static func read(_ db: PostgresConnection) async throws -> MailOutboxCounts {
        var counts = MailOutboxCounts()
        guard let row = try await db.query(
            """
            SELECT count(*) FILTER (WHERE state = 'pending') AS pending, count(*) FILTER (WHERE state = 'failed') AS failed,
                   extract(epoch FROM min(created_at) FILTER (WHERE state = 'pending'))::float8 AS oldest
              FROM mail_outbox
            """
        ).singleRow() else { return counts }
        counts.pending = try row.decode("pending")
        counts.failed = try row.decode("failed")
        counts.oldestPending = try row.decode("oldest", as: Double?.self).map(Date.init(timeIntervalSince1970:))
        return counts
    }
}
