import Foundation
@testable import ProvisionAlerts
import ProvisionTestSupport
import Testing

/// Messages and SMTP framing, without a database or a relay.
@Suite("mail messages and SMTP framing")
struct MailMessageTests {
    @Test func messagesAreSafeMultipartAndEncoded() throws {
        let message = MailMessage(
            from: "Zoë's Trust <send@trust.example>", to: ["senco@school.example", "Ann <ann@school.example>"],
            subject: "3 new alerts for Ysgol Gymraeg Llanelli — ✔\r\nBcc: evil@attacker.example",
            text: "Zoë Smith (Year 4): stalled.", html: "<p>Zoë</p>", messageID: "<digest-1-139001@send-provision>",
            date: Date(timeIntervalSince1970: 1_795_000_000))
        let text = String(decoding: message.rfc5322(), as: UTF8.self)
        let headerBlock = text.components(separatedBy: "\r\n\r\n")[0]
        // No header can be injected: the CR LF became a space inside the encoded subject.
        #expect(!text.contains("\r\nBcc:"))
        #expect(headerBlock.contains("Subject: =?UTF-8?B?"))
        #expect(headerBlock.contains("From: =?UTF-8?B?"))
        #expect(headerBlock.contains("<send@trust.example>"))
        #expect(headerBlock.contains("To: senco@school.example, \"Ann\" <ann@school.example>"))
        #expect(headerBlock.contains("Message-ID: <digest-1-139001@send-provision>"))
        #expect(headerBlock.contains("Date: "))
        #expect(headerBlock.contains("Content-Type: multipart/alternative; boundary="))
        #expect(text.allSatisfy { $0.isASCII })
        #expect(text.split(separator: "\r\n").allSatisfy { $0.utf8.count <= 998 })
        // The plain-text body decodes back to the UTF-8 text.
        #expect(plainText(of: text) == "Zoë Smith (Year 4): stalled.")
    }

    @Test func smtpDotStuffingAndAddresses() {
        let stuffed = String(decoding: SMTPTransport.dotStuffed(Array(".one\r\ntwo\r\n..three".utf8)), as: UTF8.self)
        #expect(stuffed == "..one\r\ntwo\r\n...three\r\n")
        #expect(SMTPTransport(host: "localhost", port: 25, from: "SEND Provision <send@trust.example>").sender == "send@trust.example")
        // Whatever the text, what goes after MAIL FROM:/RCPT TO: is one token: no command can follow it.
        let cleaned = SMTPTransport.clean(SMTPTransport.address("Ann <ann@x.example>\r\nRCPT TO:<evil@x>"))
        #expect(!cleaned.contains { $0.isWhitespace || $0.isNewline || $0 == "<" || $0 == ">" })
        #expect(SMTPTransport.clean(SMTPTransport.address("Ann Senco <senco@school.test>")) == "senco@school.test")
    }

    @Test func anUnreachableRelayIsATemporaryFailure() async throws {
        // Port 1 on loopback: nothing listens, the connection is refused at once.
        let transport = SMTPTransport(host: "127.0.0.1", port: 1, from: "a@b.example")
        do {
            try await transport.deliver(Array("x".utf8), recipients: ["c@d.example"], id: 1)
            Issue.record("delivery to a closed port succeeded")
        } catch {
            #expect(error.temporary)
            #expect(error.message.contains("cannot connect to 127.0.0.1:1"))
        }
    }
}
