import Foundation

/// Tells UTF-8 from Windows-1252 for files people save from Excel ("CSV UTF-8" or plain
/// "CSV"): a file that is entirely valid UTF-8 (or starts with a UTF-8 byte-order mark)
/// is UTF-8, anything else Windows-1252. Reads the file once in chunks. A file with UTF-16's
/// byte-order mark (Excel's "Unicode Text") is UTF-8 once ``CSVReader`` has turned it into
/// that; workbooks are refused with what to save instead (``notCSVText``).
public enum EncodingSniffer {
    /// The encoding of the file at `path`, from its byte-order mark or its bytes.
    public static func detect(_ path: String) throws -> CSVEncoding {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw ImporterError("cannot open \(path)") }
        defer { try? handle.close() }
        var pending = 0  // continuation bytes still expected
        var first = true
        while let chunk = try handle.read(upToCount: 1 << 16), !chunk.isEmpty {
            // UTF-16 is read as UTF-8 once ``CSVReader`` has turned it into that.
            if first, chunk.starts(with: utf8Mark) || utf16Mark(chunk) != nil { return .utf8 }
            if first, let refusal = notCSVText(path, startingWith: chunk) { throw refusal }
            first = false
            for byte in chunk {
                if pending > 0 {
                    guard byte & 0xC0 == 0x80 else { return .windows1252 }
                    pending -= 1
                } else if byte < 0x80 {
                    continue
                } else if byte & 0xE0 == 0xC0, byte >= 0xC2 {
                    pending = 1
                } else if byte & 0xF0 == 0xE0 {
                    pending = 2
                } else if byte & 0xF8 == 0xF0, byte <= 0xF4 {
                    pending = 3
                } else {
                    return .windows1252
                }
            }
        }
        return pending == 0 ? .utf8 : .windows1252
    }

    /// UTF-8's byte-order mark.
    static let utf8Mark: [UInt8] = [0xEF, 0xBB, 0xBF]

    /// Whether `bytes` start with UTF-16's byte-order mark: big-endian or not; nil when they do not.
    static func utf16Mark(_ bytes: some Collection<UInt8>) -> Bool? {
        if bytes.starts(with: [0xFF, 0xFE]) { return false }
        if bytes.starts(with: [0xFE, 0xFF]) { return true }
        return nil
    }

    /// Why the file at `path`, starting with `bytes`, is not CSV text to read at all, with
    /// what to save instead; nil when it may be. A workbook is binary: it once stopped the
    /// run saying that every column was missing.
    static func notCSVText(_ path: String, startingWith bytes: some Collection<UInt8>) -> ImporterError? {
        let what: String
        if bytes.starts(with: [0x50, 0x4B, 0x03, 0x04]) {
            what = "an Excel workbook (.xlsx, or another zip file)"
        } else if bytes.starts(with: [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
            what = "an Excel 97–2003 workbook (.xls)"
        } else {
            return nil
        }
        return ImporterError(
            "\(URL(fileURLWithPath: path).lastPathComponent) is \(what), which is not read: "
                + "save it as \"CSV UTF-8 (Comma delimited)\" and import that")
    }
}
