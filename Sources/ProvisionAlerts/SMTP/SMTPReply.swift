import NIOCore

/// One reply of an SMTP relay (RFC 5321 §4.2): a three-digit code and its text lines.
public struct SMTPReply: Sendable, Equatable {
    /// The reply code (2xx done, 3xx go on, 4xx temporary, 5xx permanent).
    public let code: Int
    /// The text of each line, without code and separator.
    public let lines: [String]

    /// A reply of `code` with `lines`.
    public init(code: Int, lines: [String]) {
        self.code = code
        self.lines = lines
    }

    /// The reply as one line for an error message, cut to a readable length.
    var summary: String { "\(code) \(lines.joined(separator: " / "))".prefix(300).description }

    /// The extensions an EHLO reply announces, upper-cased keyword first ("AUTH PLAIN LOGIN").
    var extensions: [[String]] {
        lines.dropFirst().map { $0.split(separator: " ").map { $0.uppercased() } }
    }
}

/// Why a relay's bytes are not an SMTP reply.
public struct SMTPProtocolError: Error, Sendable, CustomStringConvertible {
    public let description: String
}

/// Splits the relay's bytes into replies: "250-…" lines continue a reply, "250 …" ends it.
/// A relay is input like any other: a line over 2 KiB, a reply over 100 lines, a line that
/// does not start with three digits, or a code that changes within a reply ends the
/// conversation.
struct SMTPReplyDecoder: ByteToMessageDecoder {
    typealias InboundOut = SMTPReply
    static let maximumLineBytes = 2048
    static let maximumLines = 100

    private var code: Int?
    private var lines: [String] = []

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
            if buffer.readableBytes > Self.maximumLineBytes { throw SMTPProtocolError(description: "a reply line over 2 KiB") }
            return .needMoreData
        }
        let length = newline - buffer.readerIndex + 1
        guard length <= Self.maximumLineBytes, let raw = buffer.readBytes(length: length) else {
            throw SMTPProtocolError(description: "a reply line over 2 KiB")
        }
        var bytes = raw.dropLast()  // the LF
        if bytes.last == UInt8(ascii: "\r") { bytes = bytes.dropLast() }
        guard bytes.count >= 3, bytes.prefix(3).allSatisfy({ (0x30...0x39).contains($0) }),
            let code = Int(String(decoding: bytes.prefix(3), as: UTF8.self)), (200...599).contains(code)
        else {
            throw SMTPProtocolError(description: "not an SMTP reply: '\(String(decoding: bytes.prefix(60), as: UTF8.self))'")
        }
        if let current = self.code, current != code {
            throw SMTPProtocolError(description: "a reply whose code changes from \(current) to \(code)")
        }
        let separator = bytes.dropFirst(3).first
        guard separator == nil || separator == UInt8(ascii: " ") || separator == UInt8(ascii: "-") else {
            throw SMTPProtocolError(description: "not an SMTP reply: '\(String(decoding: bytes.prefix(60), as: UTF8.self))'")
        }
        self.code = code
        lines.append(String(decoding: bytes.dropFirst(4), as: UTF8.self))
        guard lines.count <= Self.maximumLines else { throw SMTPProtocolError(description: "a reply of over 100 lines") }
        if separator != UInt8(ascii: "-") {
            context.fireChannelRead(wrapInboundOut(SMTPReply(code: code, lines: lines)))
            self.code = nil
            lines = []
        }
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}
