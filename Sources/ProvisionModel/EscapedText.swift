/// Text from an untrusted program (a plugin's messages, refs and stderr) made safe to store
/// in PostgreSQL and to print on a terminal: control characters — NUL, ESC (terminal escape
/// sequences), DEL and the C1 range — and the bidirectional controls that make the rest of a
/// line display in another order (U+202A–U+202E, U+2066–U+2069) are written as visible
/// `\u{…}` escapes.
public enum EscapedText {
    /// Escapes `text`; line breaks and tabs are kept only when `keepingLineBreaks` is set.
    public static func escaped(_ text: some StringProtocol, keepingLineBreaks: Bool = false) -> String {
        var needsWork = false
        for scalar in text.unicodeScalars where isUnsafe(scalar, keepingLineBreaks: keepingLineBreaks) {
            needsWork = true
            break
        }
        guard needsWork else { return String(text) }
        var result = ""
        result.unicodeScalars.reserveCapacity(text.unicodeScalars.count)
        for scalar in text.unicodeScalars {
            if isUnsafe(scalar, keepingLineBreaks: keepingLineBreaks) {
                result += "\\u{" + String(scalar.value, radix: 16) + "}"
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// Bytes from a program, decoded as UTF-8 (invalid sequences become U+FFFD) and escaped.
    public static func escaped(bytes: some Collection<UInt8>, keepingLineBreaks: Bool = true) -> String {
        escaped(String(decoding: bytes, as: UTF8.self), keepingLineBreaks: keepingLineBreaks)
    }

    private static func isUnsafe(_ scalar: Unicode.Scalar, keepingLineBreaks: Bool) -> Bool {
        switch scalar.value {
        case 0x09, 0x0A: return !keepingLineBreaks
        case 0x00..<0x20, 0x7F..<0xA0: return true
        default: return HiddenCharacters.reorders(scalar)
        }
    }
}
