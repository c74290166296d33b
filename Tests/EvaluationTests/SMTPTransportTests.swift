import Foundation
import ProvisionAlerts
import Testing

/// The SMTP transport against a real relay (aiosmtpd) with TLS and AUTH, and against
/// relays that misbehave.
@Suite struct SMTPTransportTests {
    static let from = "SEND Provision <send-provision@trust.test>"

    /// A message whose body has lines that begin with dots, which SMTP must stuff.
    static func message(_ token: String) -> [UInt8] {
        Array("From: \(from)\r\nTo: senco@school.test\r\nSubject: Relay check\r\nMessage-ID: <\(token)@send-provision>\r\n\r\n.a line starting with a dot\r\n..two\r\n".utf8)
    }

    static func transport(_ relay: SMTPRelay, _ security: SMTPTransport.Security, password: String? = "s3cret word")
        -> SMTPTransport
    {
        SMTPTransport(
            host: "localhost", port: relay.port, from: from, security: security,
            credentials: password.map { .init(username: "provision", password: $0) }, trustRootsFile: relay.certificate)
    }

    @Test(arguments: [SMTPTransport.Security.starttls, .tls])
    func deliversOverTLSWithAuthentication(_ security: SMTPTransport.Security) async throws {
        let relay = try await SMTPRelay(security == .tls ? .tls : .starttls, user: "provision", password: "s3cret word")
        try await Self.transport(relay, security).deliver(
            Self.message("tls1"), recipients: ["Ann Senco <senco@school.test>"], id: 1)
        let accepted = try relay.accepted()
        try #require(accepted.count == 1)
        #expect(accepted[0]["tls"] as? Bool == true)
        #expect(accepted[0]["login"] as? String == "provision")
        #expect(accepted[0]["mail_from"] as? String == "send-provision@trust.test")
        #expect(accepted[0]["rcpt_tos"] as? [String] == ["senco@school.test"])
        let data = try #require(accepted[0]["data"] as? String)
        #expect(data.contains("Message-ID: <tls1@send-provision>"))
        // Dot-stuffed on the way and undone by the relay: the lines are as written.
        #expect(data.hasSuffix("\r\n\r\n.a line starting with a dot\r\n..two\r\n"), "\(data)")
    }

    @Test func aWrongPasswordIsTemporaryAndNotRepeatedInTheError() async throws {
        let relay = try await SMTPRelay(.starttls, user: "provision", password: "right")
        do {
            try await Self.transport(relay, .starttls, password: "wrong-password").deliver(
                Self.message("auth"), recipients: ["senco@school.test"], id: 1)
            Issue.record("delivered with a wrong password")
        } catch {
            // The outbox keeps the message until the configuration is put right.
            #expect(error.temporary)
            #expect(error.message.contains("AUTH PLAIN: 535"), "\(error.message)")
            #expect(!error.message.contains("wrong-password") && !error.message.contains("d3JvbmctcGFzc3dvcmQ"))
        }
        #expect(try relay.accepted().isEmpty)
    }

    @Test func aRelayWithoutSTARTTLSIsRefusedWhenTLSIsRequired() async throws {
        let relay = try await SMTPRelay(.plain)
        do {
            try await Self.transport(relay, .starttls).deliver(Self.message("nostarttls"), recipients: ["senco@school.test"], id: 1)
            Issue.record("the password went to a relay without TLS")
        } catch {
            #expect(error.temporary)
            #expect(error.message.contains("does not offer STARTTLS"), "\(error.message)")
        }
        #expect(try relay.accepted().isEmpty)
    }

    @Test func aCertificateNotTrustedIsRefused() async throws {
        let relay = try await SMTPRelay(.starttls, user: "provision", password: "s3cret word")
        var transport = Self.transport(relay, .starttls)
        transport.trustRootsFile = nil  // the system's store does not know the relay's certificate
        do {
            try await transport.deliver(Self.message("untrusted"), recipients: ["senco@school.test"], id: 1)
            Issue.record("delivered to a relay whose certificate nobody vouches for")
        } catch {
            #expect(error.temporary)
            #expect(error.message.lowercased().contains("certificate"), "\(error.message)")
        }
        #expect(try relay.accepted().isEmpty)
    }

    @Test func repliesInjectedBeforeTLSEndTheConversation() async throws {
        let relay = try await SMTPRelay(.injection)
        do {
            try await Self.transport(relay, .starttls).deliver(Self.message("inject"), recipients: ["senco@school.test"], id: 1)
            Issue.record("the conversation went on after a clear-text reply injected behind STARTTLS")
        } catch {
            #expect(error.message.contains("after its STARTTLS reply"), "\(error.message)")
        }
    }

    @Test func aRelayThatIsNotSMTPOrSaysNothingIsATemporaryFailure() async throws {
        let garbage = try await SMTPRelay(.garbage)
        do {
            try await SMTPTransport(host: "127.0.0.1", port: garbage.port, from: Self.from)
                .deliver(Self.message("garbage"), recipients: ["senco@school.test"], id: 1)
            Issue.record("an HTTP server accepted the message")
        } catch {
            #expect(error.temporary)
            #expect(error.message.contains("not an SMTP reply: 'HTTP/1.1 400"), "\(error.message)")
        }
        let silent = try await SMTPRelay(.silent)
        var transport = SMTPTransport(host: "127.0.0.1", port: silent.port, from: Self.from)
        transport.timeoutSeconds = 1
        do {
            try await transport.deliver(Self.message("silent"), recipients: ["senco@school.test"], id: 1)
            Issue.record("a silent relay accepted the message")
        } catch {
            #expect(error.temporary)
            #expect(error.message.contains("did not answer in time"), "\(error.message)")
        }
    }
}
