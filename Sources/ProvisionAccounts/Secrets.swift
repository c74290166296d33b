import ProvisionModel

/// Random secrets and their stored form. Session cookies, API tokens and recovery codes are
/// random enough that a fast hash is as good as a slow one; only their SHA-256 is stored.
public enum Secrets {
    private static let urlSafe = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    private static let readable = Array("abcdefghjkmnpqrstuvwxyz23456789")

    /// `length` characters from a URL-safe alphabet of 64 (6 bits each), from the system's
    /// cryptographic generator (getrandom on Linux).
    public static func token(length: Int = 43) -> String {
        var generator = SystemRandomNumberGenerator()
        return String((0..<length).map { _ in urlSafe[Int(generator.next(upperBound: UInt8(urlSafe.count)))] })
    }

    /// A secret a person types: lower-case letters and digits without look-alikes (no 0/o,
    /// 1/l/i), in groups of four joined by dashes.
    public static func readable(groups: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<groups).map { _ in
            String((0..<4).map { _ in readable[Int(generator.next(upperBound: UInt8(readable.count)))] })
        }.joined(separator: "-")
    }

    /// What is stored for a token: its SHA-256 in hex.
    public static func stored(_ token: String) -> String { SHA256.hex(token) }
}
