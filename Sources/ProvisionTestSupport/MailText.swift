import Foundation

/// The decoded text/plain part of an RFC 5322 message as `MailMessage` writes it (CRLF line
/// ends, the plain part first, base64).
public func plainText(of message: String) -> String {
    let parts = message.components(separatedBy: "Content-Transfer-Encoding: base64\r\n\r\n")
    guard parts.count > 1 else { return "" }
    let encoded = parts[1].components(separatedBy: "\r\n--")[0].replacingOccurrences(of: "\r\n", with: "")
    return String(decoding: Data(base64Encoded: encoded) ?? Data(), as: UTF8.self)
}
