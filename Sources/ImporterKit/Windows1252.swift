/// Windows-1252, where it differs from ISO-8859-1 (Latin-1): the bytes 0x80–0x9F, which
/// Latin-1 gives to the C1 control characters and Windows gives to `€`, `’`, `“`, `–` and
/// the like.
///
/// Files from Windows software that say they are ISO-8859-1 are nearly always Windows-1252
/// (the web's encoding standard reads the label so): read as Latin-1, a name typed as
/// O’Brien would hold the control character U+0092, which the supervisor refuses.
public enum Windows1252 {
    /// The character of a byte 0x80–0x9F; nil for the five bytes Windows-1252 leaves
    /// undefined, and for any other byte.
    public static func character(_ byte: UInt8) -> Unicode.Scalar? {
        guard byte >= 0x80 && byte <= 0x9F else { return nil }
        return high[Int(byte - 0x80)]
    }

    /// `text` as it reads in Windows-1252 when it was decoded as Latin-1: each C1 control
    /// character the byte it came from means there. Undefined bytes stay as they were.
    public static func repairingLatin1(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0.value >= 0x80 && $0.value <= 0x9F }) else { return text }
        var scalars = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if scalar.value >= 0x80 && scalar.value <= 0x9F, let character = character(UInt8(scalar.value)) {
                scalars.append(character)
            } else {
                scalars.append(scalar)
            }
        }
        return String(scalars)
    }

    /// The bytes `text` was decoded from as Latin-1 or Windows-1252; nil when a character is
    /// in neither. For a file that says it is one of those but whose bytes are UTF-8.
    public static func bytes(of text: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            if scalar.value <= 0xFF {
                bytes.append(UInt8(scalar.value))
            } else if let index = high.firstIndex(of: scalar) {
                bytes.append(0x80 + UInt8(index))
            } else {
                return nil
            }
        }
        return bytes
    }

    private static let high: [Unicode.Scalar?] = [
        "\u{20AC}", nil, "\u{201A}", "\u{0192}", "\u{201E}", "\u{2026}", "\u{2020}", "\u{2021}",
        "\u{02C6}", "\u{2030}", "\u{0160}", "\u{2039}", "\u{0152}", nil, "\u{017D}", nil,
        nil, "\u{2018}", "\u{2019}", "\u{201C}", "\u{201D}", "\u{2022}", "\u{2013}", "\u{2014}",
        "\u{02DC}", "\u{2122}", "\u{0161}", "\u{203A}", "\u{0153}", nil, "\u{017E}", "\u{0178}",
    ]
}
