/// Unique Pupil Numbers: a check letter, then twelve characters (LA code, establishment
/// number, year, serial), the last of which is a letter for a temporary UPN.
public enum UPN {
    /// The 23 letters used for check letters and temporary UPN suffixes (no I, O or S).
    static let letters = Array("ABCDEFGHJKLMNPQRTUVWXYZ".utf8)

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    /// What is wrong with a UPN's shape, or nil when the shape is right. Never echoes the value.
    public static func shapeProblem(_ upn: String) -> String? {
        let bytes = Array(upn.utf8)
        guard bytes.count == 13 else {
            return "UPN must be 13 characters, got \(upn.count)"
        }
        guard letters.contains(bytes[0]) else {
            return "UPN must start with a check letter (A–Z except I, O, S)"
        }
        guard bytes[1...11].allSatisfy(isDigit) else {
            return "UPN characters 2–12 must be digits"
        }
        guard isDigit(bytes[12]) || letters.contains(bytes[12]) else {
            return "UPN character 13 must be a digit, or a letter (not I, O, S) for a temporary UPN"
        }
        return nil
    }

    /// The check letter the DfE algorithm gives for characters 2–13: each weighted by its
    /// position (2–13), summed, modulo 23, as a letter; a temporary UPN's final letter counts
    /// as its index in the same alphabet. Nil when the shape is wrong.
    public static func expectedCheckLetter(_ upn: String) -> Character? {
        guard shapeProblem(upn) == nil else { return nil }
        let bytes = Array(upn.utf8)
        var sum = 0
        for position in 2...13 {
            let byte = bytes[position - 1]
            let value = isDigit(byte) ? Int(byte - 0x30) : letters.firstIndex(of: byte) ?? 0
            sum += value * position
        }
        return Character(Unicode.Scalar(letters[sum % 23]))
    }

    /// True when the shape is right and the check letter matches.
    public static func isValid(_ upn: String) -> Bool {
        guard let expected = expectedCheckLetter(upn) else { return false }
        return upn.first == expected
    }
}

extension UPN {
    /// A UPN with the right check letter for `twelve` characters (digits, or eleven digits
    /// and a letter for a temporary UPN). For the sample-trust generator and tests.
    public static func withCheckLetter(_ twelve: String) -> String? {
        guard let letter = expectedCheckLetter("A" + twelve) else { return nil }
        return String(letter) + twelve
    }
}
