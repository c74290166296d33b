/// FNV-1a: a small hash that is the same in every process and on every machine (Swift's
/// `Hasher` is seeded per process), for naming things and seeding generators.
public enum StableHash {
    /// The 32-bit FNV-1a hash of `text`'s UTF-8 bytes.
    public static func fnv1a(_ text: String) -> UInt32 {
        var hash: UInt32 = 2_166_136_261
        for byte in text.utf8 {
            hash ^= UInt32(byte)
            hash = hash &* 16_777_619
        }
        return hash
    }
}
