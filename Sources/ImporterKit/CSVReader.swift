import Foundation

/// Text encodings MIS CSV exports come in.
public enum CSVEncoding: String, Sendable, CaseIterable {
    /// UTF-8, with or without a byte-order mark (Excel writes one).
    case utf8 = "utf-8"
    /// Windows-1252, what older Windows software writes as "ANSI".
    case windows1252 = "windows-1252"
}

/// One item a ``CSVReader`` reads: a row with the line it starts on, or a row it could not read.
public enum CSVItem: Sendable {
    case row(line: Int, fields: [String])
    /// A row that could not be read (bad encoding) and why.
    case bad(line: Int, reason: String)
    /// The file itself could not be read on (an I/O error, or a stray quote that swallowed
    /// the rest of it): the last item, and the import must fail rather than take what was
    /// read so far for the whole file.
    case failed(line: Int, reason: String)
}

/// Reads a CSV file as a stream of rows, in constant memory: RFC 4180 quoting (fields
/// holding commas, quotes and line breaks), CRLF or LF line ends, UTF-8 or Windows-1252
/// text, and UTF-16 text with its byte-order mark (Excel's "Unicode Text"). Blank rows are
/// skipped. A row that cannot be read is returned as ``CSVItem/bad(line:reason:)`` and
/// reading goes on with the next row. A quoted field still open at the end of the file, or
/// longer than ``maxQuotedFieldBytes``, is a stray quote that swallowed the rows after it:
/// ``CSVItem/failed(line:reason:)``, so the import fails rather than lose them unseen.
public final class CSVReader {
    private let handle: FileHandle
    /// The encoding the rows are decoded in: the one asked for, unless the file starts with
    /// UTF-8's byte-order mark, which says it is UTF-8 whatever a mapping assumed (an export
    /// re-saved from Excel as "CSV UTF-8" and read under a preset for Windows-1252 turned
    /// Zoë into ZoÃ« without a word).
    public private(set) var encoding: CSVEncoding
    private let delimiter: UInt8
    private var chunk: [UInt8] = []
    private var position = 0
    private var atEnd = false
    private var line = 1
    /// Set when reading the file failed; reported once as ``CSVItem/failed(line:reason:)``.
    private var readFailure: String?
    private var failureReported = false
    /// Set once a stray quote was reported: nothing after it can be read as rows.
    private var stopped = false

    /// The longest quoted field read, in bytes: no field of a template holds more than 5,000
    /// characters, so a longer one is a stray quote running on through the rows after it.
    public static let maxQuotedFieldBytes = 64 * 1024
    /// Set for a UTF-16 file (found by its byte-order mark): its bytes are turned into UTF-8
    /// as they are read, and the rows decoded as UTF-8.
    private var utf16: UTF16Transcoding?
    /// Whether the file is UTF-16 text, read as the UTF-8 it is turned into (``encoding`` is then `.utf8`).
    public var isUTF16: Bool { utf16 != nil }

    /// Opens `path` for reading rows in `encoding` (or UTF-8 or UTF-16, when the file's
    /// byte-order mark says so), split on `delimiter`; throws when it cannot be opened or is
    /// not CSV text (``EncodingSniffer/notCSVText(_:startingWith:)``).
    public init(path: String, encoding: CSVEncoding, delimiter: Character = ",") throws {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ImporterError("cannot open \(path)")
        }
        self.handle = handle
        self.encoding = encoding
        self.delimiter = delimiter.asciiValue ?? UInt8(ascii: ",")
        // A file that cannot be read has no first bytes: `next()` reports why.
        guard fill() else { return }
        if chunk.starts(with: EncodingSniffer.utf8Mark) {
            position = EncodingSniffer.utf8Mark.count
            self.encoding = .utf8
        } else if let bigEndian = EncodingSniffer.utf16Mark(chunk) {
            var transcoding = UTF16Transcoding(bigEndian: bigEndian)
            chunk = transcoding.transcode(chunk.dropFirst(2))
            utf16 = transcoding
            self.encoding = .utf8
        } else if let refusal = EncodingSniffer.notCSVText(path, startingWith: chunk) {
            throw refusal
        }
    }

    deinit { try? handle.close() }

    /// Makes sure a byte is buffered; false at the end of the file.
    private func fill() -> Bool {
        while position >= chunk.count {
            if atEnd { return false }
            var read: [UInt8]
            do {
                read = [UInt8](try handle.read(upToCount: 1 << 16) ?? Data())
            } catch {
                // Not the end of the file: an I/O error must never look like one.
                read = []
                readFailure = error.localizedDescription
            }
            atEnd = read.isEmpty
            // A chunk of one byte may give no character yet: read on.
            if utf16 != nil { read = (atEnd ? utf16?.finish() : utf16?.transcode(read)) ?? [] }
            (chunk, position) = (read, 0)
        }
        return true
    }

    private func nextByte() -> UInt8? {
        guard fill() else { return nil }
        defer { position += 1 }
        return chunk[position]
    }

    private func peekByte() -> UInt8? {
        fill() ? chunk[position] : nil
    }

    /// The next row, or nil at the end of the file.
    public func next() -> CSVItem? {
        while true {
            guard !stopped, peekByte() != nil else {
                if let readFailure, !failureReported {
                    failureReported = true
                    return .failed(line: line, reason: "the file could not be read past line \(line): \(readFailure)")
                }
                return nil
            }
            let startLine = line
            var fields: [[UInt8]] = []
            var field: [UInt8] = []
            var quoted = false
            var inQuotes = false
            rowLoop: while true {
                guard let byte = nextByte() else {
                    if inQuotes { return strayQuote(openedOn: startLine, "is not closed before the end of the file (a stray quote?)") }
                    fields.append(field)
                    break rowLoop
                }
                if inQuotes {
                    guard field.count <= Self.maxQuotedFieldBytes else {
                        return strayQuote(
                            openedOn: startLine, "runs on past line \(line) (over \(Self.maxQuotedFieldBytes / 1024) KiB; a stray quote?)")
                    }
                    if byte == UInt8(ascii: "\"") {
                        if peekByte() == UInt8(ascii: "\"") {
                            _ = nextByte()
                            field.append(byte)
                        } else {
                            inQuotes = false
                        }
                    } else {
                        if byte == 0x0A { line += 1 }
                        field.append(byte)
                    }
                    continue
                }
                switch byte {
                case delimiter:
                    fields.append(field)
                    field = []
                    quoted = false
                case UInt8(ascii: "\"") where field.isEmpty && !quoted:
                    quoted = true
                    inQuotes = true
                case 0x0D:
                    if peekByte() == 0x0A { _ = nextByte() }
                    line += 1
                    fields.append(field)
                    break rowLoop
                case 0x0A:
                    line += 1
                    fields.append(field)
                    break rowLoop
                default:
                    field.append(byte)
                }
            }
            if fields.allSatisfy({ $0.allSatisfy { $0 == 0x20 || $0 == 0x09 } }) { continue }
            var texts: [String] = []
            texts.reserveCapacity(fields.count)
            for (index, bytes) in fields.enumerated() {
                guard let text = decode(bytes) else {
                    return .bad(
                        line: startLine,
                        reason: "column \(index + 1) is not valid \(encoding.rawValue) text (is the file in another encoding?)")
                }
                texts.append(text)
            }
            return .row(line: startLine, fields: texts)
        }
    }

    /// Ends reading at a quoted field opened on line `line` that `how` says swallowed the rows
    /// after it.
    private func strayQuote(openedOn line: Int, _ how: String) -> CSVItem {
        stopped = true
        return .failed(line: line, reason: "a quoted field opened on line \(line) \(how): the rows after it cannot be read")
    }

    private func decode(_ bytes: [UInt8]) -> String? {
        switch encoding {
        case .utf8:
            return String(validating: bytes, as: UTF8.self)
        case .windows1252:
            var scalars = String.UnicodeScalarView()
            for byte in bytes {
                if byte >= 0x80 && byte <= 0x9F {
                    guard let scalar = Windows1252.character(byte) else { return nil }
                    scalars.append(scalar)
                } else {
                    scalars.append(Unicode.Scalar(byte))
                }
            }
            return String(scalars)
        }
    }
}

extension CSVReader {
    /// Opens the CSV file at `path` for an importer and reads its header row: the reader
    /// (after the header) and the header's names, nil for an empty file. Stops the run
    /// (exit 65) naming the file when it cannot be opened, is not CSV text (a workbook) or
    /// its header cannot be read.
    ///
    /// - Parameters:
    ///   - encoding: the file's encoding; nil to detect it (``EncodingSniffer``). A UTF-8 or
    ///     UTF-16 byte-order mark overrides it either way.
    ///   - delimiter: what separates the columns; nil for commas, or semicolons or tabs when
    ///     the header says so (a spreadsheet saved where the decimal mark is a comma, or as
    ///     tab-separated text): a header that is one column holding one of those, and not a
    ///     comma, is read again split on it.
    ///   - required: columns the header must have. When the first row lacks them, a row
    ///     within the next ``titleRowLimit`` that has them all is the header (a MIS report
    ///     exported with its title and date above the columns); when none has, the first
    ///     row is, and the caller reports what is missing from it.
    public static func openWithHeader(
        _ path: String, encoding: CSVEncoding?, delimiter: Character?, plugin: String, required: [String] = []
    ) -> (reader: CSVReader, names: [String])? {
        let name = URL(fileURLWithPath: path).lastPathComponent
        let chosen: CSVEncoding
        do {
            chosen = try encoding ?? EncodingSniffer.detect(path)
        } catch {
            Diagnostics.fail("\(plugin): \(error)")
        }
        func opened(splitOn delimiter: Character) -> CSVReader {
            do {
                return try CSVReader(path: path, encoding: chosen, delimiter: delimiter)
            } catch {
                Diagnostics.fail("\(plugin): \(error)")
            }
        }
        var separator = delimiter ?? ","
        var reader = opened(splitOn: separator)
        if reader.isUTF16 {
            Diagnostics.note("\(plugin): \(name): read as UTF-16 text (Excel's \"Unicode Text\"), which its byte-order mark says it is")
        } else if reader.encoding != chosen {
            Diagnostics.note("\(plugin): \(name): read as UTF-8, which its byte-order mark says it is")
        }
        guard var names = reader.headerRow(plugin: plugin, file: name) else { return nil }
        if delimiter == nil, names.count == 1, let only = names.first,
            let (other, separators) = otherSeparators.max(by: { a, b in only.count(of: a.0) < only.count(of: b.0) }), only.contains(other)
        {
            separator = other
            reader = opened(splitOn: other)
            guard let split = reader.headerRow(plugin: plugin, file: name) else { return nil }
            names = split
            Diagnostics.note("\(plugin): \(name): columns separated by \(separators)")
        }
        guard !CSVHeader(names).missing(required).isEmpty else { return (reader, names) }
        for _ in 0..<titleRowLimit {
            guard case .row(let line, let fields)? = reader.next() else { break }
            if CSVHeader(fields).missing(required).isEmpty {
                Diagnostics.note("\(plugin): \(name): the columns' names are on line \(line); the lines above them are left out")
                return (reader, fields)
            }
            // The title said nothing of the separator: the header may be the first to.
            guard delimiter == nil, separator == ",", fields.count == 1, let only = fields.first else { continue }
            for (other, separators) in otherSeparators where CSVHeader(only.split(separator: other).map(String.init)).missing(required).isEmpty {
                let split = opened(splitOn: other)
                while case .row(let at, let names)? = split.next() {
                    guard at == line else { continue }
                    Diagnostics.note(
                        "\(plugin): \(name): the columns' names are on line \(line), separated by \(separators); "
                            + "the lines above them are left out")
                    return (split, names)
                }
            }
        }
        let again = opened(splitOn: separator)
        guard let first = again.headerRow(plugin: plugin, file: name) else { return nil }
        return (again, first)
    }

    /// What separates columns in a file saved where the decimal mark is a comma, or as
    /// tab-separated text, when a mapping does not say: each, with its name for the log.
    private static let otherSeparators: [(Character, String)] = [(";", "semicolons"), ("\t", "tabs")]

    /// How many rows under the first are looked at for the header (``openWithHeader``).
    public static let titleRowLimit = 10

    /// The header row's fields, nil for an empty file. A header that cannot be read stops the
    /// run (exit 65) naming its line and why: without it no row can be read, and taking the
    /// file for empty would import nothing from it and succeed.
    public func headerRow(plugin: String, file name: String) -> [String]? {
        switch next() {
        case nil: return nil
        case .row(_, let fields)?: return fields
        case .failed(_, let reason)?: Diagnostics.fail("\(plugin): \(name): \(reason)")
        case .bad(let line, let reason)?: Diagnostics.fail("\(plugin): \(name): the header row (line \(line)) cannot be read: \(reason)")
        }
    }

    /// Hands each remaining row to `convert`; a row that cannot be read, or that `convert`
    /// throws for, becomes an `error` record naming the file and line. Never stops early.
    public func convertRows(
        header: CSVHeader, file: String, writer: RecordWriter, _ convert: (CSVRecord) throws -> Void
    ) {
        while let item = next() {
            switch item {
            case .bad(let line, let reason):
                writer.error(reason, ref: "\(file):\(line)")
            case .failed(_, let reason):
                Diagnostics.fail("\(file): \(reason); nothing is imported from a file read only in part")
            case .row(let line, let fields):
                do {
                    try convert(CSVRecord(header: header, fields: fields, line: line))
                } catch {
                    writer.error("\(error)", ref: "\(file):\(line)")
                }
            }
        }
    }
}

extension String {
    /// How many times `character` occurs.
    fileprivate func count(of character: Character) -> Int { reduce(0) { $1 == character ? $0 + 1 : $0 } }
}
