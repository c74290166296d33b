import Foundation
import ImporterKit

/// Reads a file once, in chunks, before the parser sees it, and finds the first of two
/// things that would hurt the parser rather than only fail it:
///
/// - Bytes that are not UTF-8, in a file the parser reads as UTF-8. FoundationXML hands a
///   comment's text to its delegate as UTF-8 it force-unwraps, so a comment holding such
///   bytes crashed the importer (signal 4) rather than failing the run with a reason; the
///   same bytes anywhere else are only a parse error ("error 9").
/// - A tag longer than ``maxTagLength`` characters, in any encoding. libxml2 checks each
///   attribute of a tag against every one before it: one element with 20,000 attributes
///   took 0.14 s to parse, 40,000 0.44 s and 80,000 (a megabyte) 3.2 s, so a file of a few
///   megabytes of them would hold a worker until the plugin's time limit. A CTF's tags are
///   element names; its longest, the root with its namespace declarations, is a few
///   hundred characters.
///
/// Either is refused with the line and column where it starts. The same pass tells whether
/// a file that declares a single-byte encoding is UTF-8 after all (``Findings``).
enum PreRead {
    /// A place in the file: 1-based line, and character within it.
    struct Position: Equatable, CustomStringConvertible {
        let line: Int
        let column: Int
        var description: String { "line \(line), column \(column)" }
    }

    enum Problem: Equatable {
        case notUTF8(Position)
        case tagTooLong(Position)
    }

    /// How the parser will read the file's bytes (``DoctypeGuard`` finds it).
    enum Encoding: Equatable {
        case utf8
        /// An ASCII-compatible encoding of one byte a character (ISO-8859-1, Windows-1252).
        case singleByte
        case utf16(bigEndian: Bool)
    }

    /// The longest tag read: far beyond any CTF's, far below the attribute counts that take
    /// libxml2 seconds.
    static let maxTagLength = 1 << 16

    /// What reading a file found.
    struct Findings {
        /// The first problem, if any.
        var problem: Problem?
        /// For a file read in a single-byte encoding: whether its bytes are UTF-8 throughout,
        /// with characters beyond ASCII. Then they are not Latin-1 text: Latin-1's letters
        /// are single bytes, which UTF-8 never allows alone.
        var singleByteIsUTF8 = false
    }

    /// What reading the file at `path` as `encoding` finds, in one pass.
    static func read(_ path: String, encoding: Encoding) throws -> Findings {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw ImporterError("cannot open \(path)") }
        defer { try? handle.close() }
        var bytes = ChunkedBytes(handle: handle)
        var tags = TagScanner()
        var findings = Findings()
        switch encoding {
        case .utf8:
            var parser = Unicode.UTF8.ForwardParser()
            while true {
                switch parser.parseScalar(from: &bytes) {
                case .valid(let encoded):
                    if let problem = tags.take(Unicode.UTF8.decode(encoded)) { return Findings(problem: problem) }
                case .emptyInput:
                    if let failure = bytes.failure { throw failure }
                    return findings
                case .error:
                    if let failure = bytes.failure { throw failure }
                    return Findings(problem: .notUTF8(tags.position))
                }
            }
        case .singleByte:
            // Each byte is a character to the parser; the tags see each as it passes on its
            // way to a UTF-8 decoder, which says whether the bytes are UTF-8 after all.
            var scan = SingleByteScan(bytes: bytes, tags: tags)
            var parser = Unicode.UTF8.ForwardParser()
            var (utf8, beyondASCII) = (true, false)
            decoding: while true {
                switch parser.parseScalar(from: &scan) {
                case .valid(let encoded):
                    if encoded.count > 1 { beyondASCII = true }
                case .error:
                    utf8 = false
                    while scan.next() != nil {}
                    break decoding
                case .emptyInput:
                    break decoding
                }
            }
            if let problem = scan.problem { return Findings(problem: problem) }
            bytes = scan.bytes
            findings.singleByteIsUTF8 = utf8 && beyondASCII
        case .utf16(let bigEndian):
            var units = CodeUnits(bytes: bytes, bigEndian: bigEndian)
            var parser = Unicode.UTF16.ForwardParser()
            decoding: while true {
                switch parser.parseScalar(from: &units) {
                case .valid(let encoded):
                    if let problem = tags.take(Unicode.UTF16.decode(encoded)) { return Findings(problem: problem) }
                case .error:
                    // The parser's own error to report; the tags go on being counted.
                    if let problem = tags.take("\u{FFFD}") { return Findings(problem: problem) }
                case .emptyInput:
                    break decoding
                }
            }
            bytes = units.bytes
        }
        if let failure = bytes.failure { throw failure }
        return findings
    }

    /// A single-byte file's bytes, each also taken by the tag scanner as the character it
    /// is; none after the first problem.
    private struct SingleByteScan: IteratorProtocol {
        var bytes: ChunkedBytes
        var tags: TagScanner
        private(set) var problem: Problem?

        init(bytes: ChunkedBytes, tags: TagScanner) {
            (self.bytes, self.tags) = (bytes, tags)
        }

        mutating func next() -> UInt8? {
            guard problem == nil, let byte = bytes.next() else { return nil }
            problem = tags.take(Unicode.Scalar(byte))
            return byte
        }
    }

    /// Follows the markup character by character, as far as finding tags needs: comments,
    /// CDATA sections and processing instructions may hold `<`, `>` and quotes that are not
    /// markup, and so may an attribute's quoted value. (Plain variables, not an enum with
    /// payloads: this runs for every character of the file.)
    private struct TagScanner {
        private enum Markup { case text, tag, comment, cdata, instruction }

        private(set) var position = Position(line: 1, column: 1)
        private var markup = Markup.text
        /// Where the tag being read starts, its length so far and the quote it is inside.
        private var tagStart = Position(line: 1, column: 1)
        private var tagLength = 0
        private var quote: Unicode.Scalar?
        /// Whether the tag so far is the start of `<!--` or `<![CDATA[`.
        private var mayOpenComment = false
        private var mayOpenSection = false
        /// The two characters before this one, to find where a comment or section ends.
        private var (beforeLast, last): (Unicode.Scalar, Unicode.Scalar) = (" ", " ")

        private static let commentStart: [Unicode.Scalar] = ["<", "!", "-", "-"]
        private static let sectionStart: [Unicode.Scalar] = ["<", "!", "[", "C", "D", "A", "T", "A", "["]

        /// Takes the next character; a tag too long once it passes the bound.
        mutating func take(_ character: Unicode.Scalar) -> Problem? {
            switch markup {
            case .text:
                if character == "<" {
                    (markup, tagStart, tagLength, quote) = (.tag, position, 1, nil)
                    (mayOpenComment, mayOpenSection) = (true, true)
                }
            case .tag:
                if mayOpenComment || mayOpenSection { opens(character) }
                if markup == .tag {
                    guard tagLength < PreRead.maxTagLength else { return .tagTooLong(tagStart) }
                    tagLength += 1
                    if let open = quote {
                        if character == open { quote = nil }
                    } else if character == "\"" || character == "'" {
                        quote = character
                    } else if character == ">" {
                        markup = .text
                    }
                }
            case .comment:
                if character == ">" && last == "-" && beforeLast == "-" { markup = .text }
            case .cdata:
                if character == ">" && last == "]" && beforeLast == "]" { markup = .text }
            case .instruction:
                if character == ">" && last == "?" { markup = .text }
            }
            (beforeLast, last) = (last, character)
            if character == "\n" {
                position = Position(line: position.line + 1, column: 1)
            } else {
                position = Position(line: position.line, column: position.column + 1)
            }
            return nil
        }

        /// Whether the first characters of a tag open a comment, a CDATA section or a
        /// processing instruction instead.
        private mutating func opens(_ character: Unicode.Scalar) {
            if tagLength == 1 && character == "?" {
                markup = .instruction
                return
            }
            mayOpenComment = mayOpenComment && tagLength < Self.commentStart.count && Self.commentStart[tagLength] == character
            mayOpenSection = mayOpenSection && tagLength < Self.sectionStart.count && Self.sectionStart[tagLength] == character
            if mayOpenComment && tagLength == Self.commentStart.count - 1 {
                markup = .comment
            } else if mayOpenSection && tagLength == Self.sectionStart.count - 1 {
                markup = .cdata
            }
        }
    }

    /// A file's bytes, read a mebibyte at a time.
    private struct ChunkedBytes: IteratorProtocol {
        let handle: FileHandle
        var chunk: [UInt8] = []
        var index = 0
        /// Why reading stopped early, if it did.
        var failure: (any Error)?

        mutating func next() -> UInt8? {
            if index == chunk.count {
                guard failure == nil else { return nil }
                do {
                    chunk = [UInt8](try handle.read(upToCount: 1 << 20) ?? Data())
                } catch {
                    failure = error
                    chunk = []
                }
                index = 0
                if chunk.isEmpty { return nil }
            }
            defer { index += 1 }
            return chunk[index]
        }
    }

    /// UTF-16 code units from a file's bytes, in the file's byte order (a last odd byte is
    /// left for the parser to refuse).
    private struct CodeUnits: IteratorProtocol {
        var bytes: ChunkedBytes
        let bigEndian: Bool

        mutating func next() -> UInt16? {
            guard let first = bytes.next(), let second = bytes.next() else { return nil }
            return bigEndian ? UInt16(first) << 8 | UInt16(second) : UInt16(second) << 8 | UInt16(first)
        }
    }
}
