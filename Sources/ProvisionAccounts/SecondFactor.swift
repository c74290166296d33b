import Foundation
import HummingbirdOTP
import Postgres

/// The second factor: TOTP (RFC 6238, 30-second steps, six digits, what every authenticator
/// app reads), computed with hummingbird-auth's `HummingbirdOTP`, and ten single-use
/// recovery codes for a lost phone. A code is accepted for the step before and after the
/// current one (clock drift), and never twice: the last step used is kept.
public enum SecondFactor {
    /// An enrolment in progress: what the person puts into their authenticator app.
    public struct Enrolment: Sendable {
        /// The shared secret as the app's manual entry wants it (Base32).
        public let secretBase32: String
        /// The `otpauth://` address a QR code carries.
        public let url: String
    }

    /// Starts (or restarts) enrolment for `userID`: a fresh secret is kept as pending until a
    /// code from it is confirmed.
    public static func beginEnrolment(_ db: PostgresConnection, userID: Int64, email: String, issuer: String) async throws -> Enrolment {
        // HummingbirdOTP keys the HMAC with the secret's UTF-8 bytes: 32 random characters of
        // a 64-letter alphabet are 192 bits.
        let secret = Secrets.token(length: 32)
        try await db.execute("UPDATE users SET totp_pending_secret = $2 WHERE id = $1", userID, secret)
        let totp = TOTP(secret: secret)
        let url = totp.createAuthenticatorURL(label: "\(issuer):\(email)", issuer: issuer)
        let base32 = URLComponents(string: url)?.queryItems?.first { $0.name == "secret" }?.value ?? ""
        return Enrolment(secretBase32: base32, url: url)
    }

    /// Confirms enrolment with a code from the pending secret. Returns the recovery codes
    /// (shown once; only their hashes are kept), or nil when the code is wrong. `within`
    /// runs in the same transaction (the audit entry).
    public static func confirmEnrolment(
        _ db: PostgresConnection, userID: Int64, code: String, now: Date = Date(),
        within: @Sendable (isolated PostgresConnection) throws -> Void = { _ in }
    ) async throws -> [String]? {
        try await db.transaction { db in
            guard let row = try db.query("SELECT totp_pending_secret FROM users WHERE id = $1 FOR UPDATE", userID).singleRow(),
                let secret = try row.decode("totp_pending_secret", as: String?.self),
                let step = matchingStep(code, secret: secret, now: now, after: nil)
            else { return nil }
            _ = try db.execute(
                "UPDATE users SET totp_secret = totp_pending_secret, totp_pending_secret = NULL, totp_last_step = $2 WHERE id = $1",
                userID, step)
            _ = try db.execute("DELETE FROM recovery_codes WHERE user_id = $1", userID)
            var codes: [String] = []
            for _ in 0..<10 {
                let code = Secrets.readable(groups: 3)
                codes.append(code)
                _ = try db.execute("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)", userID, Secrets.stored(code))
            }
            try within(db)
            return codes
        }
    }

    /// Whether `code` (six digits, or a recovery code) passes for `userID`. A TOTP code's step
    /// is recorded so it cannot be replayed; a recovery code is used up.
    public static func verify(_ db: PostgresConnection, userID: Int64, code: String, now: Date = Date()) async throws -> Bool {
        let code = code.trimmingCharacters(in: .whitespaces)
        return try await db.transaction { db in
            guard let row = try db.query("SELECT totp_secret, totp_last_step FROM users WHERE id = $1 FOR UPDATE", userID).singleRow(),
                let secret = try row.decode("totp_secret", as: String?.self)
            else { return false }
            if let step = matchingStep(code, secret: secret, now: now, after: try row.decode("totp_last_step", as: Int64?.self)) {
                _ = try db.execute("UPDATE users SET totp_last_step = $2 WHERE id = $1", userID, step)
                return true
            }
            let used = try db.execute(
                "UPDATE recovery_codes SET used_at = now() WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
                userID, Secrets.stored(code.lowercased()))
            return used == 1
        }
    }

    /// The 30-second step (of now-1, now, now+1) whose code is `code`, if any later than `after`.
    static func matchingStep(_ code: String, secret: String, now: Date, after last: Int64?) -> Int64? {
        guard code.count == 6, let number = Int(code) else { return nil }
        let totp = TOTP(secret: secret)
        let current = Int64(now.timeIntervalSince1970 / 30)
        for step in [current - 1, current, current + 1] where last.map({ step > $0 }) ?? true {
            if totp.compute(date: Date(timeIntervalSince1970: Double(step) * 30 + 1)) == number { return step }
        }
        return nil
    }
}
