import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Hands each message to an SMTP relay (normally the local MTA on localhost:25): EHLO,
/// MAIL FROM, RCPT TO per recipient, DATA with dot-stuffing, QUIT (RFC 5321). A 4xx reply
/// or a connection that cannot be made is temporary (retried later); a 5xx reply is
/// permanent. No TLS or authentication: this is for a relay on the same host or network.
public struct SMTPTransport: MailTransport {
    public let host: String
    public let port: Int
    /// The envelope sender (the address inside `mail.from`).
    public let sender: String
    public var timeoutSeconds = 30

    public init(host: String, port: Int, from: String) {
        self.host = host
        self.port = port
        if let open = from.lastIndex(of: "<"), let close = from.lastIndex(of: ">"), open < close {
            sender = String(from[from.index(after: open)..<close])
        } else {
            sender = from.trimmingCharacters(in: .whitespaces)
        }
    }

    public func deliver(_ message: [UInt8], recipients: [String], id: Int64) async throws(TransportFailure) {
        let connection = try SMTPConnection(host: host, port: port, timeoutSeconds: timeoutSeconds)
        defer { connection.close() }
        try connection.expect(220, after: nil)
        try connection.expect(250, after: "EHLO \(Self.localName())")
        try connection.expect(250, after: "MAIL FROM:<\(Self.clean(sender))>")
        for recipient in recipients {
            try connection.expect([250, 251], after: "RCPT TO:<\(Self.clean(Self.address(recipient)))>")
        }
        try connection.expect(354, after: "DATA")
        try connection.send(Self.dotStuffed(message) + Array(".\r\n".utf8))
        try connection.expect(250, after: nil)
        try? connection.expect(221, after: "QUIT")
    }

    /// The address inside `Name <address>`, or the text itself.
    static func address(_ text: String) -> String {
        if let open = text.lastIndex(of: "<"), let close = text.lastIndex(of: ">"), open < close {
            return String(text[text.index(after: open)..<close])
        }
        return text.trimmingCharacters(in: .whitespaces)
    }

    /// Keeps an address on one line and free of angle brackets.
    static func clean(_ address: String) -> String {
        address.filter { !$0.isWhitespace && $0 != "<" && $0 != ">" && !$0.isNewline }
    }

    /// CRLF line ends, a leading "." doubled on every line, and a final CRLF.
    static func dotStuffed(_ message: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(message.count + 64)
        var atLineStart = true
        for byte in message {
            if atLineStart && byte == UInt8(ascii: ".") { out.append(byte) }
            out.append(byte)
            atLineStart = byte == 0x0A
        }
        if !out.suffix(2).elementsEqual([0x0D, 0x0A]) { out += [0x0D, 0x0A] }
        return out
    }

    static func localName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, buffer.count)
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "localhost" : name
    }
}

/// One blocking SMTP conversation over a TCP socket, with send and receive timeouts.
final class SMTPConnection {
    private let socket: Int32
    private var pending: [UInt8] = []

    init(host: String, port: Int, timeoutSeconds: Int) throws(TransportFailure) {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var results: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &results) == 0, let first = results else {
            throw TransportFailure(temporary: true, message: "SMTP: cannot resolve \(host)")
        }
        defer { freeaddrinfo(results) }
        var candidate: UnsafeMutablePointer<addrinfo>? = first
        while let info = candidate {
            let descriptor = Glibc.socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
            if descriptor >= 0 {
                var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
                setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                if connect(descriptor, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 {
                    socket = descriptor
                    return
                }
                Glibc.close(descriptor)
            }
            candidate = info.pointee.ai_next
        }
        throw TransportFailure(temporary: true, message: "SMTP: cannot connect to \(host):\(port) (errno \(errno))")
    }

    func close() { Glibc.close(socket) }

    func send(_ bytes: [UInt8]) throws(TransportFailure) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard written > 0 else { throw TransportFailure(temporary: true, message: "SMTP: the connection broke while sending") }
            offset += written
        }
    }

    /// Sends `command` (if any), reads the whole (possibly multi-line) reply, and checks its code.
    func expect(_ codes: Set<Int>, after command: String?) throws(TransportFailure) {
        if let command { try send(Array((command + "\r\n").utf8)) }
        var last = ""
        repeat {
            last = try readLine()
        } while last.count >= 4 && last[last.index(last.startIndex, offsetBy: 3)] == "-"
        guard let code = Int(last.prefix(3)) else {
            throw TransportFailure(temporary: true, message: "SMTP: unreadable reply '\(last.prefix(80))'")
        }
        guard codes.contains(code) else {
            let step = command.map { String($0.prefix(4)) } ?? "reply"
            throw TransportFailure(temporary: code < 500, message: "SMTP \(step): \(last.prefix(200))")
        }
    }

    func expect(_ code: Int, after command: String?) throws(TransportFailure) {
        try expect([code], after: command)
    }

    private func readLine() throws(TransportFailure) -> String {
        while true {
            if let newline = pending.firstIndex(of: 0x0A) {
                let line = String(decoding: pending[..<newline], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                pending.removeSubrange(...newline)
                return line
            }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = buffer.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { throw TransportFailure(temporary: true, message: "SMTP: the relay closed the connection or timed out") }
            pending.append(contentsOf: buffer[..<count])
        }
    }
}
