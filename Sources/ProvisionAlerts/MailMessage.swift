import Foundation
import ProvisionModel

/// An RFC 5322 message: multipart/alternative plain text and HTML, UTF-8 throughout.
///
/// Header values come from data (school names, addresses), so they are made safe here:
/// CR and LF are replaced by spaces, so no value can start a header of its own, and
/// non-ASCII text is encoded per RFC 2047. Bodies are base64, so no line is ever too long.
public struct MailMessage: Sendable, Equatable {
    /// The From address, optionally with a display name.
    public var from: String
    /// The To addresses, each optionally with a display name.
    public var to: [String]
    /// The subject: any text; line breaks become spaces and it is RFC 2047 encoded.
    public var subject: String
    public var text: String
    /// The HTML part (already escaped by the template).
    public var html: String
    /// `<…@…>`; the same message handed over twice keeps the same id.
    public var messageID: String
    /// The Date header.
    public var date: Date

    /// A message; nothing is encoded until `rfc5322()`.
    public init(from: String, to: [String], subject: String, text: String, html: String, messageID: String, date: Date) {
        self.from = from
        self.to = to
        self.subject = subject
        self.text = text
        self.html = html
        self.messageID = messageID
        self.date = date
    }

    /// The message as bytes with CRLF line ends.
    public func rfc5322() -> [UInt8] {
        let boundary = "=_provision_" + String(StableHash.fnv1a(messageID), radix: 16)
        var lines: [String] = []
        lines.append("From: " + Self.address(from))
        lines.append("To: " + to.map(Self.address).joined(separator: ", "))
        lines.append("Subject: " + Self.encodedWord(Self.singleLine(subject)))
        lines.append("Date: " + Self.rfc5322Date(date))
        lines.append("Message-ID: " + Self.singleLine(messageID))
        lines.append("MIME-Version: 1.0")
        lines.append("Content-Type: multipart/alternative; boundary=\"\(boundary)\"")
        lines.append("")
        for (type, body) in [("text/plain", text), ("text/html", html)] {
            lines.append("--" + boundary)
            lines.append("Content-Type: \(type); charset=UTF-8")
            lines.append("Content-Transfer-Encoding: base64")
            lines.append("")
            let encoded = Data(body.utf8).base64EncodedString()
            var index = encoded.startIndex
            while index < encoded.endIndex {
                let end = encoded.index(index, offsetBy: 76, limitedBy: encoded.endIndex) ?? encoded.endIndex
                lines.append(String(encoded[index..<end]))
                index = end
            }
        }
        lines.append("--" + boundary + "--")
        lines.append("")
        return Array(lines.joined(separator: "\r\n").utf8)
    }

    /// Removes line breaks (and other controls) so a value stays inside its header.
    static func singleLine(_ text: String) -> String {
        String(text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? " " : Character($0) })
    }

    /// RFC 2047 base64 encoded-words for non-ASCII text, split so each stays short.
    static func encodedWord(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { !$0.isASCII }) else { return text }
        var words: [String] = []
        var chunk = ""
        for character in text {
            if (chunk + String(character)).utf8.count > 45 {
                words.append("=?UTF-8?B?" + Data(chunk.utf8).base64EncodedString() + "?=")
                chunk = ""
            }
            chunk.append(character)
        }
        if !chunk.isEmpty { words.append("=?UTF-8?B?" + Data(chunk.utf8).base64EncodedString() + "?=") }
        return words.joined(separator: "\r\n ")
    }

    /// `Name <addr@example>` with the name encoded when it needs to be; the address itself
    /// is kept to its safe characters.
    static func address(_ text: String) -> String {
        let line = singleLine(text).trimmingCharacters(in: .whitespaces)
        guard let open = line.lastIndex(of: "<"), line.hasSuffix(">") else { return line.filter { !$0.isWhitespace } }
        let name = line[..<open].trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        let address = line[line.index(after: open)..<line.index(before: line.endIndex)].filter { !$0.isWhitespace && $0 != "<" && $0 != ">" }
        if name.isEmpty { return "<\(address)>" }
        let shown = name.unicodeScalars.contains { !$0.isASCII } ? encodedWord(name) : "\"" + name.replacingOccurrences(of: "\"", with: "'") + "\""
        return "\(shown) <\(address)>"
    }

    static func rfc5322Date(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        return formatter.string(from: date)
    }
}
