import Foundation

/// Tells UTF-8 from Windows-1252 for files people save from Excel ("CSV UTF-8" or plain
/// "CSV"): a file that is entirely valid UTF-8 (or starts with a UTF-8 byte-order mark)
/// is UTF-8, anything else Windows-1252. Reads the file once in chunks. A file with a
/// UTF-16 byte-order mark (Excel's "Unicode Text") is refused with what to save instead:
/// read as either, every other byte would be a NUL.
public enum EncodingSniffer {
    /// The encoding of the file at `path`, from its byte-order mark or its bytes.
    public static func detect(_ path: String) throws -> CSVEncoding {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw ImporterError("cannot open \(path)") }
        defer { try? handle.close() }
        var pending = 0  // continuation bytes still expected
        var first = true
        while let chunk = try handle.read(upToCount: 1 << 16), !chunk.isEmpty {
            if first, chunk.starts(with: utf8Mark) { return .utf8 }
            if first, startsWithUTF16Mark(chunk) { throw utf16Refusal(path) }
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

    /// Whether `bytes` start with a UTF-16 byte-order mark, either way round.
    static func startsWithUTF16Mark(_ bytes: some Collection<UInt8>) -> Bool {
        bytes.starts(with: [0xFF, 0xFE]) || bytes.starts(with: [0xFE, 0xFF])
    }

    /// Why the UTF-16 file at `path` is not read, and what to save instead.
    static func utf16Refusal(_ path: String) -> ImporterError {
        ImporterError(
            "\(URL(fileURLWithPath: path).lastPathComponent) is UTF-16 text (Excel's \"Unicode Text\"), which is not read: "
                + "save it as \"CSV UTF-8 (Comma delimited)\" and import that")
    }
}
