import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import ProvisionConfig

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Hands each message to an SMTP relay (RFC 5321): EHLO, STARTTLS when configured
/// (RFC 3207) or TLS from the first byte (RFC 8314), AUTH PLAIN or LOGIN when credentials
/// are configured (RFC 4954), MAIL FROM, RCPT TO per recipient, DATA with dot-stuffing,
/// QUIT. Built on SwiftNIO, so a slow relay holds an event-loop registration, never a thread
/// of the cooperative pool.
///
/// What is temporary and what is not decides whether the outbox tries again: a connection,
/// TLS or authentication problem, a 4xx reply or a relay that stops answering is temporary
/// (the message waits, and goes once the relay or the configuration is right); a 5xx reply
/// to the message itself (MAIL, RCPT, DATA) is permanent.
public struct SMTPTransport: MailTransport {
    /// How the conversation is protected (`mail.smtp_security`).
    public typealias Security = ProvisionConfig.Configuration.SMTPSecurity
    /// The user name and password for AUTH.
    public typealias Credentials = ProvisionConfig.Configuration.SMTPCredentials

    /// The relay's host name or address; the name a certificate must carry.
    public let host: String
    /// The relay's port (25, 587 for STARTTLS, 465 for TLS).
    public let port: Int
    /// The envelope sender (the address inside `mail.from`).
    public let sender: String
    /// Plain text, STARTTLS or TLS from the first byte.
    public var security: Security
    /// Credentials for AUTH; nil to send without authenticating.
    public var credentials: Credentials?
    /// PEM certificates the relay's must chain to; nil: the system's trust store.
    public var trustRootsFile: String?
    /// The longest the relay may stay silent (and the connection may take) before the
    /// attempt is given up as temporary.
    public var timeoutSeconds = 30

    /// A transport to `host:port` sending as the address inside `from`.
    public init(
        host: String, port: Int, from: String, security: Security = .none, credentials: Credentials? = nil,
        trustRootsFile: String? = nil
    ) {
        self.host = host
        self.port = port
        sender = Self.address(from)
        self.security = security
        self.credentials = credentials
        self.trustRootsFile = trustRootsFile
    }

    /// The transport `[mail]` describes.
    public init(_ mail: ProvisionConfig.Configuration.Mail) {
        self.init(
            host: mail.smtpHost, port: mail.smtpPort, from: mail.from, security: mail.smtpSecurity,
            credentials: mail.smtpCredentials, trustRootsFile: mail.smtpCAFile)
    }

    public func deliver(_ message: [UInt8], recipients: [String], id: Int64) async throws(TransportFailure) {
        let tls = try tlsContext()
        let channel: NIOAsyncChannel<SMTPReply, ByteBuffer>
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(Int64(timeoutSeconds)))
                .connect(host: host, port: port) { [security, host, timeoutSeconds] channel in
                    channel.eventLoop.makeCompletedFuture {
                        let pipeline = channel.pipeline.syncOperations
                        if security == .tls, let tls {
                            try pipeline.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: Self.serverName(host)))
                        }
                        if security == .starttls { try pipeline.addHandler(PlaintextReplyLimit()) }
                        try pipeline.addHandler(IdleStateHandler(allTimeout: .seconds(Int64(timeoutSeconds))))
                        try pipeline.addHandler(CloseWhenIdle())
                        try pipeline.addHandler(ByteToMessageHandler(SMTPReplyDecoder()))
                        return try NIOAsyncChannel<SMTPReply, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw TransportFailure(temporary: true, message: "SMTP: cannot connect to \(host):\(port) (\(error))")
        }
        do {
            try await channel.executeThenClose { inbound, outbound in
                var conversation = SMTPConversation(replies: inbound.makeAsyncIterator(), outbound: outbound)
                try await converse(&conversation, channel: channel.channel, tls: tls, message: message, recipients: recipients)
            }
        } catch let failure as TransportFailure {
            throw failure
        } catch {
            throw TransportFailure(temporary: true, message: "SMTP with \(host):\(port): \(error)")
        }
    }

    private func converse(
        _ smtp: inout SMTPConversation, channel: any Channel, tls: NIOSSLContext?, message: [UInt8], recipients: [String]
    ) async throws {
        try await smtp.expect([220], step: "greeting")
        var ehlo = try await smtp.send("EHLO \(Self.localName())", expect: [250])
        if security == .starttls {
            guard ehlo.extensions.contains(where: { $0.first == "STARTTLS" }) else {
                throw TransportFailure(temporary: true, message: "SMTP: \(host):\(port) does not offer STARTTLS (smtp_security = \"starttls\")")
            }
            try await smtp.send("STARTTLS", expect: [220])
            guard let tls else { throw TransportFailure(temporary: true, message: "SMTP: no TLS context") }
            let name = Self.serverName(host)
            // In the event loop, between two reads: nothing sent in clear text after the 220
            // can reach the decoder as if it had come over TLS.
            try await channel.eventLoop.submit {
                let pipeline = channel.pipeline.syncOperations
                pipeline.removeHandler(try pipeline.handler(type: PlaintextReplyLimit.self), promise: nil)
                try pipeline.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: name), position: .first)
            }.get()
            // What the relay said before TLS is forgotten (RFC 3207 §4.2): ask again.
            ehlo = try await smtp.send("EHLO \(Self.localName())", expect: [250])
        }
        if let credentials {
            try await authenticate(&smtp, credentials, offered: ehlo.extensions.first { $0.first == "AUTH" } ?? [])
        }
        try await smtp.send("MAIL FROM:<\(Self.clean(sender))>", expect: [250], permanentOn5xx: true)
        for recipient in recipients {
            try await smtp.send("RCPT TO:<\(Self.clean(Self.address(recipient)))>", expect: [250, 251], permanentOn5xx: true)
        }
        try await smtp.send("DATA", expect: [354], permanentOn5xx: true)
        try await smtp.write(Self.dotStuffed(message) + Array(".\r\n".utf8))
        try await smtp.expect([250], step: "end of DATA", permanentOn5xx: true)
        // Accepted: a relay that drops the line before answering QUIT changes nothing.
        _ = try? await smtp.send("QUIT", expect: [221])
    }

    private func authenticate(_ smtp: inout SMTPConversation, _ credentials: Credentials, offered: [String]) async throws {
        func base64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }
        if offered.contains("PLAIN") {
            try await smtp.send(
                "AUTH PLAIN " + base64("\0\(credentials.username)\0\(credentials.password)"), expect: [235],
                shownAs: "AUTH PLAIN")
        } else if offered.contains("LOGIN") {
            try await smtp.send("AUTH LOGIN", expect: [334])
            try await smtp.send(base64(credentials.username), expect: [334], shownAs: "AUTH LOGIN user name")
            try await smtp.send(base64(credentials.password), expect: [235], shownAs: "AUTH LOGIN password")
        } else {
            throw TransportFailure(
                temporary: true,
                message: "SMTP: \(host):\(port) offers no AUTH mechanism this client speaks (PLAIN, LOGIN) but smtp_username is set")
        }
    }

    private func tlsContext() throws(TransportFailure) -> NIOSSLContext? {
        guard security != .none else { return nil }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        if let trustRootsFile { configuration.trustRoots = .file(trustRootsFile) }
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw TransportFailure(temporary: true, message: "SMTP: cannot set up TLS (smtp_ca_file \(trustRootsFile ?? "none")): \(error)")
        }
    }

    /// The name the relay's certificate must carry; nil for an IP address, whose
    /// certificate is checked against the address instead (SNI carries names only).
    static func serverName(_ host: String) -> String? {
        (try? SocketAddress(ipAddress: host, port: 0)) == nil ? host : nil
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
        return name.isEmpty || name.contains(where: { $0.isWhitespace }) ? "localhost" : name
    }
}

/// The client's side of one SMTP conversation: commands out, replies in, each reply checked.
struct SMTPConversation {
    var replies: NIOAsyncChannelInboundStream<SMTPReply>.AsyncIterator
    let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>

    /// Writes `bytes`. When the write fails because the connection closed (a TLS handshake
    /// refused, the relay hung up), the reason is what the inbound side saw, not "I/O on
    /// closed channel".
    mutating func write(_ bytes: [UInt8]) async throws {
        do {
            try await outbound.write(ByteBuffer(bytes: bytes))
        } catch {
            do {
                while try await replies.next() != nil {}
            } catch let reason {
                throw reason
            }
            throw error
        }
    }

    /// Sends one command line and checks the reply. `shownAs` replaces the command in
    /// errors when it carries a secret.
    @discardableResult
    mutating func send(_ command: String, expect codes: Set<Int>, permanentOn5xx: Bool = false, shownAs: String? = nil)
        async throws -> SMTPReply
    {
        try await write(Array((command + "\r\n").utf8))
        let step = shownAs ?? String(command.prefix { $0 != ":" && $0 != " " })
        return try await expect(codes, step: step, permanentOn5xx: permanentOn5xx)
    }

    @discardableResult
    mutating func expect(_ codes: Set<Int>, step: String, permanentOn5xx: Bool = false) async throws -> SMTPReply {
        guard let reply = try await replies.next() else {
            throw TransportFailure(temporary: true, message: "SMTP \(step): the relay closed the connection")
        }
        guard codes.contains(reply.code) else {
            throw TransportFailure(temporary: !(permanentOn5xx && reply.code >= 500), message: "SMTP \(step): \(reply.summary)")
        }
        return reply
    }
}
