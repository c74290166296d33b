import Postgres

/// Slows password guessing: too many failed sign-ins for one account, or from one address,
/// within a window refuse further attempts until the oldest failure leaves the window. Both
/// counts are rows in `login_attempts`, so every daemon sharing the database agrees.
public struct LoginThrottle: Sendable {
    /// Failed attempts one account may have within `window`.
    public var perAccount: Int
    /// Failed attempts one address may have within `window` (several accounts behind one
    /// school's NAT share it, hence more).
    public var perAddress: Int
    /// The window, in seconds.
    public var windowSeconds: Int

    /// A throttle with these limits (defaults: 5 per account, 20 per address, 15 minutes).
    public init(perAccount: Int = 5, perAddress: Int = 20, windowSeconds: Int = 900) {
        self.perAccount = perAccount
        self.perAddress = perAddress
        self.windowSeconds = windowSeconds
    }

    /// Seconds until `email` may try again from `address`; nil when it may try now.
    public func retryAfter(_ db: PostgresConnection, email: String, address: String) async throws -> Int? {
        let row = try await db.query(
            """
            WITH recent AS (
                SELECT email, address, at FROM login_attempts
                 WHERE NOT succeeded AND at > now() - make_interval(secs => $3) AND (email = $1 OR address = $2))
            SELECT (SELECT count(*) FROM recent WHERE email = $1)::int AS by_account,
                   (SELECT count(*) FROM recent WHERE address = $2)::int AS by_address,
                   ceil(extract(epoch FROM (SELECT min(at) FROM recent WHERE email = $1) + make_interval(secs => $3) - now()))::int
                       AS account_wait,
                   ceil(extract(epoch FROM (SELECT min(at) FROM recent WHERE address = $2) + make_interval(secs => $3) - now()))::int
                       AS address_wait
            """, email, address, Double(windowSeconds)
        ).singleRow()
        guard let row else { return nil }
        var wait: Int?
        if try row.decode("by_account", as: Int.self) >= perAccount { wait = try row.decode("account_wait", as: Int?.self) }
        if try row.decode("by_address", as: Int.self) >= perAddress {
            wait = max(wait ?? 0, try row.decode("address_wait", as: Int?.self) ?? 1)
        }
        return wait.map { max(1, $0) }
    }

    /// Records an attempt. A success does not wipe earlier failures: they age out.
    public func record(_ db: PostgresConnection, email: String, address: String, succeeded: Bool) async throws {
        try await db.execute(
            "INSERT INTO login_attempts (email, address, succeeded) VALUES ($1, $2, $3)", email, address, succeeded)
        try await db.execute("DELETE FROM login_attempts WHERE at < now() - interval '1 day'")
    }
}
