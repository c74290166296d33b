/// Waits before retrying failed work (jobs, mail), with jitter.
///
/// Without jitter, every job or message that failed together (the database restarting, the
/// MTA down for a minute) comes back at the same instant and fails together again. Each
/// wait is drawn from the last fifth below the policy's value: never longer than the
/// configured backoff or cap, at least 80% of it.
public enum Backoff {
    /// The share of a wait that jitter may take off.
    public static let jitter = 0.2

    /// `seconds`, less a random share of up to ``jitter`` of it.
    public static func jittered(_ seconds: Double, using generator: inout some RandomNumberGenerator) -> Double {
        seconds * (1 - jitter * Double.random(in: 0..<1, using: &generator))
    }

    /// `seconds` with jitter from the system's generator.
    public static func jittered(_ seconds: Double) -> Double {
        var generator = SystemRandomNumberGenerator()
        return jittered(seconds, using: &generator)
    }
}
