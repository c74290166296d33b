import Crypto

/// SHA-256, incremental, for checksums of migrations and import inputs and for stored token
/// hashes: swift-crypto's (BoringSSL's assembly), behind the small interface the rest of the
/// code uses. A hand-written one was a twelfth of a large import's time.
public struct SHA256: Sendable {
    private var hasher = Crypto.SHA256()

    /// A hash of nothing yet.
    public init() {}

    /// Adds bytes to the message.
    public mutating func update<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        let array = Array(bytes)
        array.withUnsafeBytes { update($0) }
    }

    /// Adds the bytes of a buffer to the message.
    public mutating func update(_ buffer: UnsafeRawBufferPointer) {
        hasher.update(bufferPointer: buffer)
    }

    /// The digest as 64 lower-case hex characters.
    public func hexDigest() -> String {
        let digits = Array("0123456789abcdef".utf8)
        var hex: [UInt8] = []
        hex.reserveCapacity(64)
        for byte in hasher.finalize() {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: hex, as: UTF8.self)
    }

    /// The hex digest of a whole string's UTF-8 bytes.
    public static func hex(_ text: String) -> String {
        var hash = SHA256()
        hash.update(text.utf8)
        return hash.hexDigest()
    }
}
