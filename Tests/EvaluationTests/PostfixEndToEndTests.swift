import Foundation
import Postgres
import ProvisionAlerts
import ProvisionConfig
import ProvisionEvaluation
import ProvisionTestSupport
import Testing

/// Digests delivered through a real Postfix (started by scripts/test as root, local delivery
/// of school.test and trust.test into /var/mail/root) and read back from the mailbox.
@Suite(
    "mail through a real Postfix", .serialized,
    .enabled(if: ProcessInfo.processInfo.environment["PROVISION_TEST_POSTFIX"] != nil))
struct PostfixEndToEndTests {
    static let mailbox = "/var/mail/root"

    /// This test's messages (those containing `token`) that arrived in the mbox after
    /// `offset`; other mail landing in the same mailbox meanwhile is ignored.
    func arrived(after offset: Int, token: String, expecting count: Int, within seconds: Int = 20) async throws -> [String] {
        for _ in 0..<(seconds * 5) {
            let data = (try? Data(contentsOf: URL(fileURLWithPath: Self.mailbox))) ?? Data()
            let text = String(decoding: data.dropFirst(offset), as: UTF8.self)
            let messages = text.components(separatedBy: "\nFrom ").filter { $0.contains("Message-ID:") && $0.contains(token) }
            if messages.count >= count { return messages }
            try await Task.sleep(for: .milliseconds(200))
        }
        return []
    }

    @Test func digestsArriveOncePerRecipientWithCorrectHeadersAndNothingNewSendsNothing() async throws {
        let offset = (try? FileManager.default.attributesOfItem(atPath: Self.mailbox)[.size] as? Int) ?? 0
        // Only this run's messages count: the sender address carries a token of its own.
        let token = "run" + String(UUID().uuidString.prefix(8)).lowercased()
        let text = """
            [trust]
            name = "Trust of Zoë's Schools"
            send_lead = ["SEND Lead <lead@trust.test>"]
            [mail]
            transport = "sendmail"
            sendmail_path = "/usr/sbin/sendmail"
            from = "SEND Provision <send-provision-\(token)@trust.test>"
            templates_dir = "\(MailTests.templates)"
            immediate_rules = []
            [[schools]]
            urn = "139001"
            name = "Test Primary\\r\\nBcc: evil@attacker.test"
            sencos = ["senco@school.test"]
            """
        let config = try Configuration.parse(try TOMLDocument(text: text, file: "e2e.toml"), relativeTo: URL(fileURLWithPath: "/"))
        let f = try await EvaluationFixture.make("postfix")
        try await f.db.execute("UPDATE schools SET name = $1", "Test Primary\r\nBcc: evil@attacker.test")
        // An EHCP pupil whose statutory provision is only planned: named in the digest's list.
        let pupil = try await f.db.query(
            """
            INSERT INTO pupils (upn, school_id, surname, forename, dob, year_group, sen_provision)
            VALUES ('B801200005001', $1, 'Ōtsuka', 'Zoë', '2016-05-01', '4', 'E') RETURNING id
            """, f.school).scalar(as: Int64.self)
        let speech = try await f.provision("SALT", measure: nil, statutory: true, start: "2026-01-05", end: "2026-03-27")
        try await f.enrol(speech, pupil, start: "2026-01-05", end: "2026-03-27", status: "planned")
        let templates = try await DigestTemplates.load(config)
        func evaluate() async throws -> Int {
            var queued = 0
            _ = try await Evaluator(settings: .init()).run(f.db, asOf: EvaluationFixture.asOf) { db, run in
                _ = try await AlertLifecycle.apply(db, runID: run)
                queued = try await Digests.queue(db, runID: run, config: config, templates: templates)
            queued += try await Digests.queueDue(db, config: config, templates: templates, asIfDigestTime: true)
            }
            return queued
        }
        #expect(try await evaluate() == 2)
        #expect(try await Mailer(transport: Mailer.transport(for: config)).flush(f.db).sent == 2)

        let messages = try await arrived(after: offset, token: token, expecting: 2)
        #expect(messages.count == 2)
        let school = try #require(messages.first { $0.contains("X-Original-To: senco@school.test") })
        let lead = try #require(messages.first { $0.contains("X-Original-To: lead@trust.test") })
        #expect(messages.filter { $0.contains("X-Original-To: senco@school.test") }.count == 1)
        #expect(!messages.contains { $0.contains("X-Original-To: evil@") })
        for message in [school, lead] {
            let headers = message.components(separatedBy: "\n\n")[0]
            #expect(!headers.split(separator: "\n").contains { $0.hasPrefix("Bcc:") }, "a header was injected")
            #expect(headers.contains("Message-ID: <digest-"))
            #expect(headers.contains("MIME-Version: 1.0"))
            #expect(headers.contains("Content-Type: multipart/alternative"))
            #expect(headers.contains("From: \"SEND Provision\" <send-provision-\(token)@trust.test>"))
        }
        // The pupil is named in the body (decoded from base64), never in the subject.
        // The school name's CR LF became spaces inside the one Subject header.
        #expect(school.contains("Subject: SEND Provision: 2 new alerts for Test Primary  Bcc: evil@attacker.test"))
        #expect(!school.components(separatedBy: "\n\n")[0].contains("Zo"))
        let body = school.components(separatedBy: "Content-Transfer-Encoding: base64\n\n")[1].components(separatedBy: "\n--")[0]
            .replacingOccurrences(of: "\n", with: "")
        let plain = String(decoding: Data(base64Encoded: body) ?? Data(), as: UTF8.self)
        #expect(plain.contains("Zoë Ōtsuka (Year 4), UPN B801200005001"))
        #expect(lead.contains("Subject: =?UTF-8?B?"))  // the trust's non-ASCII name, RFC 2047 encoded
        // The envelope: sendmail -t took its recipients from To: alone. Nothing was delivered
        // to, queued for or bounced from the address the school's name tried to add.
        for message in messages {
            let envelope = message.components(separatedBy: "\n").filter { $0.hasPrefix("X-Original-To: ") }
            #expect(envelope.count == 1 && !envelope[0].contains("attacker"), "\(envelope)")
        }
        let queue = try await TestProcess.run("/usr/sbin/postqueue", ["-p"])
        #expect(queue.exitCode == 0 && !queue.standardOutput.contains("evil@attacker.test"), "\(queue.standardOutput)")
        let mailbox = String(decoding: try Data(contentsOf: URL(fileURLWithPath: Self.mailbox)).dropFirst(offset), as: UTF8.self)
        #expect(!mailbox.contains("X-Original-To: evil@attacker.test") && !mailbox.contains("<evil@attacker.test>"))

        // A second evaluation with nothing new: no message.
        #expect(try await evaluate() == 0)
        #expect(try await Mailer(transport: Mailer.transport(for: config)).flush(f.db).sent == 0)
        #expect(try await arrived(after: offset, token: token, expecting: 3, within: 5).isEmpty)
    }

    @Test func theSMTPTransportDeliversThroughTheRelayOnLoopback() async throws {
        let offset = (try? FileManager.default.attributesOfItem(atPath: Self.mailbox)[.size] as? Int) ?? 0
        let token = "smtp" + String(UUID().uuidString.prefix(8))
        let message = MailMessage(
            from: "SEND Provision <send-provision@trust.test>", to: ["senco@school.test"], subject: "SMTP check",
            text: ".a line starting with a dot\nZoë", html: "<p>Zoë</p>", messageID: "<\(token)@send-provision>",
            date: Date())
        try await SMTPTransport(host: "127.0.0.1", port: 25, from: "SEND Provision <send-provision@trust.test>")
            .deliver(message.rfc5322(), recipients: ["Ann Senco <senco@school.test>"], id: 1)
        let arrived = try await arrived(after: offset, token: token, expecting: 1)
        #expect(arrived.count == 1)
        #expect(arrived.first?.contains("Message-ID: <\(token)@send-provision>") == true)
        #expect(arrived.first?.contains("X-Original-To: senco@school.test") == true)
    }

    @Test func whileTheMTAIsDownMessagesWaitAndGoOutWhenItIsBack() async throws {
        let offset = (try? FileManager.default.attributesOfItem(atPath: Self.mailbox)[.size] as? Int) ?? 0
        let token = "down" + String(UUID().uuidString.prefix(8)).lowercased()
        let f = try await EvaluationFixture.make("postfix-down")
        let message = MailMessage(
            from: "SEND Provision <send-provision-\(token)@trust.test>", to: ["senco@school.test"], subject: "Queued while down",
            text: "waiting", html: "<p>waiting</p>", messageID: "<\(token)@send-provision>", date: Date())
        try await f.db.execute(
            "INSERT INTO mail_outbox (message_id, recipients, subject, message) VALUES ($1, $2::text[], $3, convert_to($4, 'UTF8'))",
            message.messageID, message.to, message.subject, String(decoding: message.rfc5322(), as: UTF8.self))
        let mailer = Mailer(transport: SMTPTransport(host: "127.0.0.1", port: 25, from: message.from))
        // The MTA is down: nothing is lost, the message waits with the reason.
        let stop = try await TestProcess.run("/usr/sbin/postfix", ["stop"])
        #expect(stop.exitCode == 0)
        let down = try await mailer.flush(f.db)
        #expect(down.deferred == 1 && down.sent == 0)
        #expect(try await f.db.query("SELECT state FROM mail_outbox").scalar(as: String.self) == "pending")
        // The MTA is back and the retry is due: the same message goes out once.
        let start = try await TestProcess.run("/usr/sbin/postfix", ["start"])
        #expect(start.exitCode == 0)
        // Ready when `postfix status` says its master runs (bounded), not after a guessed pause.
        let running = try await eventually { try await TestProcess.run("/usr/sbin/postfix", ["status"]).exitCode == 0 }
        #expect(running, "postfix is running again")
        try await f.db.execute("UPDATE mail_outbox SET next_attempt_at = now()")
        #expect(try await mailer.flush(f.db).sent == 1)
        let arrived = try await arrived(after: offset, token: token, expecting: 1)
        #expect(arrived.count == 1)
    }
}
