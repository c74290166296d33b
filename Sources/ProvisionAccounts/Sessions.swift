import Foundation
import Postgres

/// Console sessions, as rows: the cookie carries a random token, the table its SHA-256, so
/// the database alone cannot be used to sign in. A session ends when it has been idle or has
/// lived too long (checked on every use), when its user signs out, is disabled or gets a
/// new password.
public enum Sessions {
    /// A session found for a cookie.
    public struct Session: Sendable {
        /// The account.
        public let user: User
        /// The token the session's forms and `X-CSRF-Token` headers must carry.
        public let csrfToken: String
        /// False while the password was right but the second factor is still to come.
        public let secondFactorDone: Bool
    }

    /// How long sessions live.
    public struct Limits: Sendable {
        /// Ended after this long without a request.
        public var idle: Duration
        /// Ended this long after sign-in, however busy.
        public var absolute: Duration

        /// Limits of `idle` and `absolute`.
        public init(idle: Duration, absolute: Duration) {
            self.idle = idle
            self.absolute = absolute
        }
    }

    /// Starts a session for `userID`; returns the cookie's token. `within` runs in the same
    /// transaction (the sign-in's audit entry), and `ending` names a session it replaces.
    public static func start(
        _ db: PostgresConnection, userID: Int64, secondFactorDone: Bool, address: String?, replacing ending: String? = nil,
        within: @Sendable (isolated PostgresConnection) throws -> Void = { _ in }
    ) async throws -> String {
        let token = Secrets.token()
        let csrf = Secrets.token()
        try await db.transaction { db in
            if let ending { try db.execute("DELETE FROM console_sessions WHERE token_hash = $1", Secrets.stored(ending)) }
            try db.execute(
                "INSERT INTO console_sessions (token_hash, user_id, csrf_token, second_factor_done, address) VALUES ($1, $2, $3, $4, $5)",
                Secrets.stored(token), userID, csrf, secondFactorDone, address)
            try within(db)
        }
        return token
    }

    /// The live session for `token`, noting its use; nil (and the row removed) when it
    /// expired, and nil for an unknown token or a disabled account.
    public static func find(_ db: PostgresConnection, token: String, limits: Limits) async throws -> Session? {
        guard !token.isEmpty, token.count < 200 else { return nil }
        let idle = Double(limits.idle.components.seconds)
        let absolute = Double(limits.absolute.components.seconds)
        // One statement (this runs on every request): an expired session is removed, a live
        // one is noted as seen and returned with its account.
        guard let row = try await db.query(
            """
            WITH expired AS (
                DELETE FROM console_sessions
                 WHERE token_hash = $1
                   AND (last_seen_at < now() - make_interval(secs => $2) OR created_at < now() - make_interval(secs => $3))),
                 seen AS (
                UPDATE console_sessions SET last_seen_at = now()
                 WHERE token_hash = $1
                   AND last_seen_at >= now() - make_interval(secs => $2) AND created_at >= now() - make_interval(secs => $3)
                RETURNING user_id, csrf_token, second_factor_done)
            SELECT \(Accounts.columns), seen.csrf_token, seen.second_factor_done
              FROM users u JOIN seen ON seen.user_id = u.id WHERE u.disabled_at IS NULL
            """, Secrets.stored(token), idle, absolute
        ).singleRow() else { return nil }
        return Session(
            user: try Accounts.user(row), csrfToken: try row.decode("csrf_token"), secondFactorDone: try row.decode("second_factor_done"))
    }

    /// Ends the session for `token` (signing out); `within` runs in the same transaction.
    public static func end(
        _ db: PostgresConnection, token: String, within: @Sendable (isolated PostgresConnection) throws -> Void = { _ in }
    ) async throws {
        try await db.transaction { db in
            try db.execute("DELETE FROM console_sessions WHERE token_hash = $1", Secrets.stored(token))
            try within(db)
        }
    }
}
