import Foundation
import Postgres
import ProvisionModel

/// Who did what, when and from where: every view of a pupil's page and every change made in
/// the console (issue 17). Rows are only ever added.
public enum AuditLog {
    /// One entry.
    public struct Entry: Sendable, Equatable {
        /// When it happened.
        public let at: Date
        /// The account's address.
        public let email: String
        /// The client's address.
        public let address: String?
        /// What was done, such as `pupil.view` or `alert.acknowledged`.
        public let action: String
        /// The school it concerned, if one.
        public let schoolURN: String?
        /// What it was done to (a UPN, an alert id, a provision id).
        public let subject: String?
        /// More about it, as JSON text.
        public let detail: String
    }

    /// Records `action` by `user` from `address`.
    public static func record(
        _ db: PostgresConnection, user: User, address: String?, action: String, school: String? = nil, subject: String? = nil,
        detail: [String: JSONValue] = [:]
    ) async throws {
        try await db.withIsolation { db in
            try record(in: db, user: user, address: address, action: action, school: school, subject: subject, detail: detail)
        }
    }

    /// Records `action` inside the transaction open on `db`, so the entry stands or falls with
    /// the change it records.
    public static func record(
        in db: isolated PostgresConnection, user: User, address: String?, action: String, school: String? = nil,
        subject: String? = nil, detail: [String: JSONValue] = [:]
    ) throws {
        try db.execute(
            "INSERT INTO audit_log (user_id, email, address, action, school_urn, subject, detail) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)",
            user.id, user.email, address, action, school, subject, JSONValue.object(detail).serialized)
    }

    /// The latest `limit` entries, newest first; only those of `schools` when given.
    public static func recent(_ db: PostgresConnection, limit: Int = 200, schools: [String]? = nil) async throws -> [Entry] {
        try await db.query(
            """
            SELECT at, email, address, action, school_urn, subject, detail::text AS detail FROM audit_log
             WHERE $2::text[] IS NULL OR school_urn = ANY($2::text[])
             ORDER BY at DESC, id DESC LIMIT $1
            """, limit, schools
        ).rows.map { row in
            Entry(
                at: try row.decode("at"), email: try row.decode("email"), address: try row.decode("address"),
                action: try row.decode("action"), schoolURN: try row.decode("school_urn"), subject: try row.decode("subject"),
                detail: try row.decode("detail"))
        }
    }
}
