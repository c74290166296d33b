/// Characters that have no place in text people typed: control characters and the
/// invisible controls that reorder text as it is displayed. One rule for everything stored
/// from an import or the console.
public enum HiddenCharacters {
    /// What is wrong with the characters of `text`, if anything. Control characters (C0 but
    /// tab, DEL, C1, the line and paragraph separators): a C1 CSI, say, is a terminal's
    /// escape sequence wherever a name is printed. And the bidirectional embeddings,
    /// overrides and isolates: in a name they can make a digest's line or a console page
    /// read in a misleading order. The marks that only set a direction (U+200E, U+200F) and
    /// joiners are allowed; `lineBreaks` allows line feeds and carriage returns too, for free
    /// text written over several lines.
    public static func problem(in text: String, lineBreaks: Bool = false) -> String? {
        // Most text is printable ASCII, decided by its bytes alone (read in place: through
        // the UTF-8 view this loop was a fortieth of an unchanged re-import's CPU).
        let printable = text.utf8.withContiguousStorageIfAvailable { bytes in
            for byte in bytes where byte &- 0x20 >= 0x5F && byte != 0x09 { return false }
            return true
        }
        if printable == true { return nil }
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x09: continue
            case 0x0A where lineBreaks, 0x0D where lineBreaks: continue
            case 0x00..<0x20, 0x7F...0x9F, 0x2028, 0x2029: return "contains control characters"
            case _ where reorders(scalar):
                return "contains bidirectional control characters, which can make text display in a misleading order"
            default: continue
            }
        }
        return nil
    }

    /// Whether `scalar` is a bidirectional embedding, override or isolate (U+202A–U+202E,
    /// U+2066–U+2069): invisible, and it makes the text after it display in another order.
    public static func reorders(_ scalar: Unicode.Scalar) -> Bool {
        (0x202A...0x202E).contains(scalar.value) || (0x2066...0x2069).contains(scalar.value)
    }
}
