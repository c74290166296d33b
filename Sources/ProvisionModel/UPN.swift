/// Unique Pupil Numbers: a check letter, then twelve characters (LA code, establishment
/// number, year, serial), the last of which is a letter for a temporary UPN.
public enum UPN {
    /// The 23 letters used for check letters and temporary UPN suffixes (no I, O or S).
    static let letters = Array("ABCDEFGHJKLMNPQRTUVWXYZ".utf8)

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    /// What one pass over a UPN's bytes finds: what is wrong with its shape, or the check
    /// letter the DfE algorithm gives and whether the UPN starts with it.
    public enum Reading: Sendable, Equatable {
        case malformed(String)
        case wellFormed(expectedCheckLetter: Character, matches: Bool)
    }

    /// Reads `upn` once, without copying it (an import reads one per record).
    public static func read(_ upn: String) -> Reading {
        guard upn.utf8.count == 13 else {
            // Thirteen characters in more bytes: one of them is not a plain letter or digit
            // ("13 characters, got 13" told nobody what was wrong).
            let characters = upn.count
            return .malformed(characters == 13
                ? "UPN must be 13 letters and digits; it has a character outside A–Z and 0–9"
                : "UPN must be 13 characters, got \(characters)")
        }
        var upn = upn
        return upn.withUTF8 { bytes in
            guard letters.contains(bytes[0]) else {
                return .malformed("UPN must start with a check letter (A–Z except I, O, S)")
            }
            // Characters 2–13, each weighted by its position (2–13), summed, modulo 23, as a
            // letter; a temporary UPN's final letter counts as its index in the same alphabet.
            var sum = 0
            for position in 2...12 {
                let byte = bytes[position - 1]
                guard isDigit(byte) else { return .malformed("UPN characters 2–12 must be digits") }
                sum += Int(byte - 0x30) * position
            }
            let last = bytes[12]
            if isDigit(last) {
                sum += Int(last - 0x30) * 13
            } else if let index = letters.firstIndex(of: last) {
                sum += index * 13
            } else {
                return .malformed("UPN character 13 must be a digit, or a letter (not I, O, S) for a temporary UPN")
            }
            let expected = letters[sum % 23]
            return .wellFormed(expectedCheckLetter: Character(Unicode.Scalar(expected)), matches: bytes[0] == expected)
        }
    }

    /// What is wrong with a UPN's shape, or nil when the shape is right. Never echoes the value.
    public static func shapeProblem(_ upn: String) -> String? {
        if case .malformed(let problem) = read(upn) { return problem }
        return nil
    }

    /// The check letter the DfE algorithm gives for characters 2–13 (``read(_:)``). Nil when
    /// the shape is wrong.
    public static func expectedCheckLetter(_ upn: String) -> Character? {
        if case .wellFormed(let expected, _) = read(upn) { return expected }
        return nil
    }

    /// True when the shape is right and the check letter matches.
    public static func isValid(_ upn: String) -> Bool {
        if case .wellFormed(_, let matches) = read(upn) { return matches }
        return false
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
