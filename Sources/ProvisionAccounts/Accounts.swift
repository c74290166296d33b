import Foundation
import Postgres

/// A console account as the console and `provisionctl user` see it. Never carries the
/// password hash, the second factor's secret or a token.
public struct User: Sendable, Equatable {
    /// The row id.
    public let id: Int64
    /// The sign-in address, lower case.
    public let email: String
    /// What the account may do.
    public let role: Role
    /// The URNs of a SENCO's schools (empty for the other roles).
    public let schools: [String]
    /// Whether signing in needs a second factor.
    public let secondFactorRequired: Bool
    /// Whether a second factor (TOTP) is enrolled.
    public let secondFactorEnrolled: Bool
    /// When the account was disabled, if it was.
    public let disabledAt: Date?
}

/// Console accounts: what `provisionctl user` and the console call. Every change is one
/// transaction; disabling an account or resetting its password ends its sessions and tokens.
public enum Accounts {
    static let columns = """
        u.id, u.email, u.role, u.second_factor_required, u.totp_secret IS NOT NULL AS enrolled,
        extract(epoch FROM u.disabled_at)::float8 AS disabled_at,
        coalesce((SELECT string_agg(school_urn, ',' ORDER BY school_urn) FROM user_schools us WHERE us.user_id = u.id), '') AS schools
        """

    static func user(_ row: PostgresRow) throws -> User {
        let role: String = try row.decode("role")
        return User(
            id: try row.decode("id"), email: try row.decode("email"), role: Role(rawValue: role) ?? .senco,
            schools: try row.decode("schools", as: String.self).split(separator: ",").map(String.init),
            secondFactorRequired: try row.decode("second_factor_required"),
            secondFactorEnrolled: try row.decode("enrolled"),
            disabledAt: try row.decode("disabled_at", as: Double?.self).map(Date.init(timeIntervalSince1970:)))
    }

    /// Normalises and checks a sign-in address.
    public static func normalised(email: String) throws(AccountError) -> String {
        let email = email.trimmingCharacters(in: .whitespaces).lowercased()
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), email.count <= 254,
            !email.contains(where: { $0.isWhitespace || $0.isNewline || $0 == "<" || $0 == ">" })
        else { throw AccountError("'\(email.prefix(80))' is not an email address") }
        return email
    }

    /// Creates an account.
    ///
    /// - Parameters:
    ///   - schools: a SENCO's schools (at least one); must be empty for the other roles.
    ///   - secondFactor: require a second factor; nil takes the role's default (required
    ///     for `send_lead` and `it_admin`; for `senco` when `sencosNeedSecondFactor`).
    /// - Throws: ``AccountError`` when the address is taken or malformed, the password too
    ///   weak, or the schools do not fit the role.
    @discardableResult
    public static func add(
        _ db: PostgresConnection, email: String, role: Role, schools: [String], password: String,
        secondFactor: Bool? = nil, sencosNeedSecondFactor: Bool = false, cost: UInt8 = Passwords.defaultCost
    ) async throws -> User {
        let email = try normalised(email: email)
        try Passwords.check(password, email: email)
        if role == .senco && schools.isEmpty {
            throw AccountError("a SENCO needs at least one school: --school URN")
        }
        if role != .senco && !schools.isEmpty {
            throw AccountError("--school is for SENCOs; a \(role.rawValue) account covers \(role == .sendLead ? "every school of the trust" : "no pupil data")")
        }
        let required = secondFactor ?? (role.secondFactorByDefault || sencosNeedSecondFactor)
        let hash = Passwords.hash(password, cost: cost)
        return try await db.transaction { db in
            guard try db.query("SELECT 1 FROM users WHERE email = $1", email).rows.isEmpty else {
                throw AccountError("there is already an account for \(email)")
            }
            let id = try db.query(
                "INSERT INTO users (email, role, password_hash, second_factor_required) VALUES ($1, $2, $3, $4) RETURNING id",
                email, role.rawValue, hash, required
            ).scalar(as: Int64.self)
            for urn in Set(schools) {
                try db.execute("INSERT INTO user_schools (user_id, school_urn) VALUES ($1, $2)", id, urn)
            }
            guard let row = try db.query("SELECT \(columns) FROM users u WHERE u.id = $1", id).singleRow() else {
                throw AccountError("the account for \(email) vanished while it was made")
            }
            return try user(row)
        }
    }

    /// Every account, by address.
    public static func list(_ db: PostgresConnection) async throws -> [User] {
        try await db.query("SELECT \(columns) FROM users u ORDER BY u.email").rows.map(user)
    }

    /// The account with `email`, if any.
    public static func find(_ db: PostgresConnection, email: String) async throws -> User? {
        guard let email = try? normalised(email: email) else { return nil }
        return try await db.query("SELECT \(columns) FROM users u WHERE u.email = $1", email).singleRow().map(user)
    }

    /// The account with `id`, if any.
    public static func find(_ db: PostgresConnection, id: Int64) async throws -> User? {
        try await db.query("SELECT \(columns) FROM users u WHERE u.id = $1", id).singleRow().map(user)
    }

    /// Disables the account with `email` and ends its sessions and API tokens.
    public static func disable(_ db: PostgresConnection, email: String) async throws {
        let email = try normalised(email: email)
        try await db.transaction { db in
            guard let id = try db.query("SELECT id FROM users WHERE email = $1 FOR UPDATE", email).singleRow() else {
                throw AccountError("there is no account for \(email); `provisionctl user list` shows them")
            }
            let userID: Int64 = try id.decode("id")
            _ = try db.execute("UPDATE users SET disabled_at = coalesce(disabled_at, now()) WHERE id = $1", userID)
            _ = try db.execute("DELETE FROM console_sessions WHERE user_id = $1", userID)
            _ = try db.execute("DELETE FROM api_tokens WHERE user_id = $1", userID)
        }
    }

    /// Sets a new password for `email` (and enables a disabled account again), ending its
    /// sessions. With `clearSecondFactor`, the TOTP enrolment is removed too, for someone who
    /// lost their phone and their recovery codes; they enrol again at the next sign-in.
    public static func resetPassword(
        _ db: PostgresConnection, email: String, password: String, clearSecondFactor: Bool = false,
        cost: UInt8 = Passwords.defaultCost
    ) async throws {
        let email = try normalised(email: email)
        try Passwords.check(password, email: email)
        let hash = Passwords.hash(password, cost: cost)
        try await db.transaction { db in
            guard let id = try db.query("SELECT id FROM users WHERE email = $1 FOR UPDATE", email).singleRow() else {
                throw AccountError("there is no account for \(email); `provisionctl user list` shows them")
            }
            let userID: Int64 = try id.decode("id")
            _ = try db.execute(
                "UPDATE users SET password_hash = $2, password_changed_at = now(), disabled_at = NULL WHERE id = $1", userID, hash)
            if clearSecondFactor {
                _ = try db.execute(
                    "UPDATE users SET totp_secret = NULL, totp_pending_secret = NULL, totp_last_step = NULL WHERE id = $1", userID)
                _ = try db.execute("DELETE FROM recovery_codes WHERE user_id = $1", userID)
            }
            _ = try db.execute("DELETE FROM console_sessions WHERE user_id = $1", userID)
        }
    }

    /// A new API token for `email`, returned once; only its hash is stored. The token acts
    /// as its account (a second factor is not asked for: keep it like a password).
    public static func issueToken(_ db: PostgresConnection, email: String) async throws -> String {
        let email = try normalised(email: email)
        let token = "spt_" + Secrets.token()
        try await db.transaction { db in
            guard let row = try db.query("SELECT id FROM users WHERE email = $1 AND disabled_at IS NULL", email).singleRow() else {
                throw AccountError("there is no enabled account for \(email)")
            }
            _ = try db.execute(
                "INSERT INTO api_tokens (token_hash, user_id) VALUES ($1, $2)", Secrets.stored(token), try row.decode("id", as: Int64.self))
        }
        return token
    }

    /// The enabled account an API token belongs to, noting its use; nil for an unknown token.
    public static func user(_ db: PostgresConnection, apiToken token: String) async throws -> User? {
        guard token.hasPrefix("spt_"), token.count < 200 else { return nil }
        let row = try await db.query(
            """
            WITH used AS (
                UPDATE api_tokens SET last_used_at = now() WHERE token_hash = $1 RETURNING user_id)
            SELECT \(columns) FROM users u JOIN used ON used.user_id = u.id WHERE u.disabled_at IS NULL
            """, Secrets.stored(token)
        ).singleRow()
        return try row.map(user)
    }
}

extension Accounts {
    /// The enabled account whose password is `password`, or nil. bcrypt runs on the
    /// connection's own thread (a quarter of a second of work must not hold one of the two
    /// threads of Swift's cooperative pool), and against a decoy hash when the address is
    /// unknown or disabled, so the answer takes as long either way.
    public static func checkPassword(_ db: PostgresConnection, email: String, password: String) async throws -> User? {
        let email = (try? normalised(email: email)) ?? ""
        return try await db.transaction { db in
            let row = try db.query(
                "SELECT \(columns), u.password_hash FROM users u WHERE u.email = $1 AND u.disabled_at IS NULL", email
            ).singleRow()
            let hash = try row?.decode("password_hash", as: String.self) ?? Passwords.decoy
            guard Passwords.verify(password, hash: hash), let row else { return nil }
            return try user(row)
        }
    }
}
