import HummingbirdBcrypt

/// Passwords, hashed with bcrypt (hummingbird-auth's `HummingbirdBcrypt`, OpenBSD's
/// implementation). The cost is stored in each hash, so raising it later needs no migration.
public enum Passwords {
    /// The shipped cost: 2¹² rounds, about a quarter of a second on this machine kind.
    public static let defaultCost: UInt8 = 12

    /// Refuses a password that is too short or too long, or is the account's own address.
    /// Length over composition rules, as the NCSC advises.
    public static func check(_ password: String, email: String) throws(AccountError) {
        guard password.count >= 12 else {
            throw AccountError("the password must be at least 12 characters (three random words work well)")
        }
        // bcrypt reads at most 72 bytes; a longer password would be silently cut.
        guard password.utf8.count <= 72 else { throw AccountError("the password must be at most 72 bytes") }
        guard password.lowercased() != email.lowercased() else {
            throw AccountError("the password must not be the account's email address")
        }
    }

    /// The bcrypt hash of `password` at `cost`.
    public static func hash(_ password: String, cost: UInt8 = defaultCost) -> String {
        Bcrypt.hash(password, cost: cost)
    }

    /// Whether `password` matches `hash`.
    public static func verify(_ password: String, hash: String) -> Bool {
        Bcrypt.verify(password, hash: hash)
    }

    /// A hash no password matches, verified against when an address is unknown so that a
    /// login takes as long whether or not the account exists.
    static let decoy = Bcrypt.hash(Secrets.token(), cost: defaultCost)
}
