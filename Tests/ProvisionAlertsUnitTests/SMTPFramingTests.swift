import NIOCore
import NIOEmbedded
@testable import ProvisionAlerts
import Testing

/// The SMTP client's reading of a relay's bytes, on an in-memory channel.
@Suite("SMTP reply decoding and the STARTTLS guard")
struct SMTPFramingTests {
    func decoder() -> EmbeddedChannel { EmbeddedChannel(handler: ByteToMessageHandler(SMTPReplyDecoder())) }

    @Test func aMultiLineReplyArrivingInPiecesIsOneReply() throws {
        let channel = decoder()
        try channel.writeInbound(ByteBuffer(string: "250-relay.test greets you\r\n250-STARTTLS\r\n25"))
        #expect(try channel.readInbound(as: SMTPReply.self) == nil, "not finished yet")
        try channel.writeInbound(ByteBuffer(string: "0 AUTH PLAIN LOGIN\r\n220 next\n"))
        let ehlo = try #require(try channel.readInbound(as: SMTPReply.self))
        #expect(ehlo.code == 250)
        #expect(ehlo.lines == ["relay.test greets you", "STARTTLS", "AUTH PLAIN LOGIN"])
        #expect(ehlo.extensions == [["STARTTLS"], ["AUTH", "PLAIN", "LOGIN"]])
        #expect(try channel.readInbound(as: SMTPReply.self) == SMTPReply(code: 220, lines: ["next"]))
    }

    @Test(arguments: [
        ("HTTP/1.1 200 OK\r\n", "not an SMTP reply"),
        ("250-one\r\n354 two\r\n", "code changes from 250 to 354"),
        ("250" + String(repeating: "x", count: 3000), "over 2 KiB"),
        ("250x\r\n", "not an SMTP reply"),
        ("999 beyond the codes\r\n", "not an SMTP reply"),
        (String(repeating: "250-line\r\n", count: 101), "over 100 lines"),
    ])
    func whatIsNotAReplyEndsTheConversation(_ input: String, _ reason: String) throws {
        let channel = decoder()
        do {
            try channel.writeInbound(ByteBuffer(string: input))
            Issue.record("accepted: \(input.prefix(40))")
        } catch let error as SMTPProtocolError {
            #expect(error.description.contains(reason), "\(error)")
        }
    }

    @Test func bytesAfterTheThirdPlainTextReplyAreRefused() throws {
        let channel = EmbeddedChannel(handler: PlaintextReplyLimit())
        try channel.writeInbound(ByteBuffer(string: "220 hello\r\n250-relay\r\n250 STARTTLS\r\n"))
        do {
            try channel.writeInbound(ByteBuffer(string: "220 go ahead\r\n250 forged\r\n"))
            Issue.record("a reply injected behind the STARTTLS answer was let through")
        } catch let error as SMTPProtocolError {
            #expect(error.description.contains("bytes after its STARTTLS reply"))
        }
        // The two replies before the injection were passed on whole; nothing after.
        var passed = ""
        while let buffer = try channel.readInbound(as: ByteBuffer.self) { passed += String(buffer: buffer) }
        #expect(passed == "220 hello\r\n250-relay\r\n250 STARTTLS\r\n")
    }
}
