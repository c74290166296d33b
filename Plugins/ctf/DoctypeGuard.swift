import Foundation
import ImporterKit

/// Reads the start of a CTF before the XML parser sees it: refuses a document that declares
/// a DOCTYPE or entities, and finds whether it is a `full` or a `partial` transfer.
///
/// FoundationXML on Linux never resolves external entities, but it silently drops
/// references to internal ones while still reporting success, and never calls the
/// entity-declaration delegate methods: a declaration cannot be caught through the parser.
/// CTF has no DTD, so any `<!…>` declaration before the root element (other than a
/// comment) is refused outright, by reading the prolog. The prolog is decoded the way the
/// parser will decode it (UTF-16 by its byte-order mark or its first bytes; otherwise an
/// ASCII-compatible encoding, which must be the declared one), so a DOCTYPE cannot hide in
/// another encoding; a file whose root element is not reached within `limit` bytes, or
/// that declares any other encoding, is refused too.
enum DoctypeGuard {
    /// How much of a file is read to decide.
    static let limit = 4 << 20

    /// What the start of the file says.
    struct Prolog {
        /// `full` or `partial` (lower-cased), or nil when the Header does not say.
        let documentQualifier: String?
        /// How the parser reads the file's bytes: UTF-16 by a byte-order mark or pattern; else
        /// UTF-8 when UTF-8 or ASCII is declared, or no encoding at all (XML's default); else
        /// the single-byte encoding declared.
        let encoding: PreRead.Encoding
    }

    static func check(_ path: String) throws -> Prolog {
        let name = URL(fileURLWithPath: path).lastPathComponent
        func refuse(_ why: String) -> ImporterError {
            ImporterError("refusing \(name): \(why). Ask the MIS to export it again.")
        }
        guard let handle = FileHandle(forReadingAtPath: path) else { throw ImporterError("cannot open \(path)") }
        defer { try? handle.close() }
        let head = [UInt8](try handle.read(upToCount: limit) ?? Data())
        let complete = head.count < limit

        // The text the parser will see, with every non-ASCII character as 0x80.
        let text: [UInt8]
        // Whether a UTF-16 file is big-endian; nil when the file is not UTF-16.
        let utf16BigEndian: Bool?
        switch (head.first, head.dropFirst().first, head.dropFirst(2).first, head.dropFirst(3).first) {
        case (0x00, 0x00, _, _), (0xFF, 0xFE, 0x00, 0x00), (0x4C, 0x6F, 0xA7, 0x94):
            throw refuse("it is in UTF-32 or EBCDIC, which no CTF uses")
        case (0xFE, 0xFF, _, _): (text, utf16BigEndian) = (project(head.dropFirst(2), bigEndian: true), true)
        case (0xFF, 0xFE, _, _): (text, utf16BigEndian) = (project(head.dropFirst(2), bigEndian: false), false)
        case (0x00, 0x3C, _, _): (text, utf16BigEndian) = (project(head[...], bigEndian: true), true)
        case (0x3C, 0x00, _, _): (text, utf16BigEndian) = (project(head[...], bigEndian: false), false)
        case (0xEF, 0xBB, 0xBF, _): (text, utf16BigEndian) = (Array(head.dropFirst(3)), nil)
        default: (text, utf16BigEndian) = (head, nil)
        }

        var declared: String?
        var index = 0
        func starts(_ literal: String) -> Bool {
            let bytes = Array(literal.utf8)
            return index + bytes.count <= text.count && text[index..<index + bytes.count].elementsEqual(bytes)
        }
        func skip(past terminator: String) -> Bool {
            let bytes = Array(terminator.utf8)
            while index + bytes.count <= text.count {
                if text[index..<index + bytes.count].elementsEqual(bytes) {
                    index += bytes.count
                    return true
                }
                index += 1
            }
            return false
        }
        while index < text.count {
            guard text[index] == UInt8(ascii: "<") else {
                index += 1
                continue
            }
            if starts("<?xml") {
                let start = index
                guard skip(past: "?>") else { break }
                declared = try checkDeclaredEncoding(in: Array(text[start..<index]), utf16: utf16BigEndian != nil, refuse: refuse)
            } else if starts("<!--") {
                guard skip(past: "-->") else { break }
            } else if starts("<?") {
                guard skip(past: "?>") else { break }
            } else if starts("<!") {
                throw refuse(
                    "it declares a DOCTYPE or entities before the root element. A CTF has neither; such a file is "
                        + "malformed or hostile (entity expansion)")
            } else {
                // The root element: the prolog is clean.
                let encoding: PreRead.Encoding = if let utf16BigEndian {
                    .utf16(bigEndian: utf16BigEndian)
                } else if declared.map({ ["utf-8", "utf8", "us-ascii", "ascii"].contains($0) }) ?? true {
                    .utf8
                } else {
                    .singleByte
                }
                return Prolog(documentQualifier: qualifier(in: text[index...]), encoding: encoding)
            }
        }
        if complete { throw refuse("it ends before its root element: it is not a Common Transfer File") }
        throw refuse("its root element does not start within the first \(limit >> 20) MiB, so its prolog cannot be checked")
    }

    /// UTF-16 code units as bytes: ASCII kept, everything else 0x80.
    private static func project(_ bytes: ArraySlice<UInt8>, bigEndian: Bool) -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(bytes.count / 2)
        var index = bytes.startIndex
        while index + 1 < bytes.endIndex {
            let (high, low) = bigEndian ? (bytes[index], bytes[index + 1]) : (bytes[index + 1], bytes[index])
            result.append(high == 0 && low < 0x80 ? low : 0x80)
            index += 2
        }
        return result
    }

    /// The encoding the declaration names (lower-cased), nil when it names none.
    private static func checkDeclaredEncoding(
        in declaration: [UInt8], utf16: Bool, refuse: (String) -> ImporterError
    ) throws -> String? {
        let text = String(decoding: declaration, as: UTF8.self)
        guard let range = text.range(of: "encoding") else { return nil }
        let rest = text[range.upperBound...].drop { $0 == " " || $0 == "=" || $0 == "\t" }
        guard let quote = rest.first, quote == "\"" || quote == "'" else { return nil }
        let declared = rest.dropFirst().prefix { $0 != quote }.lowercased()
        let asciiCompatible: Set<String> = ["utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin1", "windows-1252"]
        let sixteen: Set<String> = ["utf-16", "utf-16le", "utf-16be"]
        if utf16 ? sixteen.contains(declared) : asciiCompatible.contains(declared) { return declared }
        throw refuse("it declares the encoding '\(declared.prefix(40))', which does not match its bytes or is not one a CTF uses")
    }

    /// The text of `<DocumentQualifier>` in the Header, lower-cased.
    private static func qualifier(in text: ArraySlice<UInt8>) -> String? {
        let open = Array("<DocumentQualifier>".utf8)
        var index = text.startIndex
        let end = min(text.endIndex, text.startIndex + (64 << 10))
        while index + open.count <= end {
            if text[index..<index + open.count].elementsEqual(open) {
                let value = text[(index + open.count)...].prefix { $0 != UInt8(ascii: "<") }.prefix(40)
                return String(decoding: value, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
            }
            index += 1
        }
        return nil
    }
}
