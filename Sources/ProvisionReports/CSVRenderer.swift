import Foundation

/// CSV that opens cleanly in Excel: UTF-8 with a byte-order mark (so Excel reads accents
/// and pound signs right), one header row, CRLF line ends, RFC 4180 quoting.
///
/// A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return and is not a
/// number gets a leading `'`, so a name in the data can never run as a spreadsheet formula
/// (a spreadsheet skips a leading tab and reads the formula after it).
enum CSVRenderer {
    static func render(columns: [String], rows: [[String]]) -> [UInt8] {
        var out: [UInt8] = [0xEF, 0xBB, 0xBF]
        for row in [columns] + rows {
            out += Array(row.map(field).joined(separator: ",").utf8)
            out += [13, 10]
        }
        return out
    }

    static func field(_ value: String) -> String {
        var text = value
        if let first = text.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first), Double(text) == nil { text = "'" + text }
        if text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) || text != text.trimmingCharacters(in: .whitespaces) {
            return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        return text
    }
}
