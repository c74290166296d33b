import Foundation
import Postgres
@testable import ProvisionAlerts
import ProvisionConfig
import ProvisionEvaluation
import ProvisionTestSupport
import Testing

@Suite("mail: messages, digests, outbox")
struct MailTests {
    static let templates = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("config/templates").path

    /// - Parameter mail: further `[mail]` keys, one per line.
    static func config(
        maildir: String, sendmail: String = "/usr/sbin/sendmail", transport: String = "maildir", templates: String = templates,
        mail: String = ""
    ) throws -> Configuration {
        let text = """
            [trust]
            name = "Test Trust"
            send_lead = ["lead@trust.example"]
            [mail]
            transport = "\(transport)"
            maildir = "\(maildir)"
            sendmail_path = "\(sendmail)"
            templates_dir = "\(templates)"
            \(mail)
            [[schools]]
            urn = "139001"
            name = "Test Primary"
            sencos = ["senco@test.example"]
            """
        return try Configuration.parse(try TOMLDocument(text: text, file: "test.toml"), relativeTo: URL(fileURLWithPath: "/"))
    }

    func evaluate(_ f: EvaluationFixture, _ config: Configuration) async throws -> AlertChanges {
        var changes = AlertChanges()
        let templates = try await DigestTemplates.load(config)
        _ = try await Evaluator(settings: .init()).run(f.db, asOf: EvaluationFixture.asOf) { db, run in
            changes = try await AlertLifecycle.apply(db, runID: run)
            changes.messagesQueued = try await Digests.queue(db, runID: run, config: config, templates: templates)
            changes.messagesQueued += try await Digests.queueDue(db, config: config, templates: templates, asIfDigestTime: true)
        }
        return changes
    }

    @Test func newAlertsAreMailedOnceToTheSencoAndTheLeadThroughTheMaildir() async throws {
        let folder = try TestProcess.temporaryDirectory("maildir")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let config = try Self.config(maildir: folder + "/mail")
        let f = try await EvaluationFixture.make("mail-digest")
        try await f.pupil(1, sen: "K")
        #expect(try await evaluate(f, config).messagesQueued == 2)
        // Nothing new: no message.
        #expect(try await evaluate(f, config).messagesQueued == 0)
        let mailer = Mailer(transport: MaildirTransport(folder: config.mail.maildir))
        #expect(try await mailer.flush(f.db).sent == 2)
        #expect(try await mailer.flush(f.db).sent == 0)
        let files = try FileManager.default.contentsOfDirectory(atPath: folder + "/mail/new")
        #expect(files.count == 2)
        let texts = try files.map { try String(contentsOfFile: folder + "/mail/new/" + $0, encoding: .utf8) }
        let school = try #require(texts.first { $0.contains("To: senco@test.example") })
        #expect(school.contains("Subject: SEND Provision: 1 new alert for Test Primary\r\n"))  // no pupil name
        #expect(texts.contains { $0.contains("To: lead@trust.example") })
        #expect(try await f.db.query("SELECT count(*) FROM mail_outbox WHERE state = 'sent'").scalar(as: Int.self) == 2)
    }

    @Test func aTemporaryMTAFailureWaitsAndTheSameMessageGoesOutLater() async throws {
        let folder = try TestProcess.temporaryDirectory("sendmail")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // A stand-in for sendmail: a real process that records what it was given.
        let script = folder + "/sendmail"
        func setMTA(exit status: Int) throws {
            try "#!/bin/sh\ncat > \(folder)/handed-over-$$.eml\nexit \(status)\n".write(toFile: script, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script)
        }
        try setMTA(exit: 75)
        let config = try Self.config(maildir: folder + "/unused", sendmail: script, transport: "sendmail")
        let f = try await EvaluationFixture.make("mail-retry")
        try await f.pupil(1, sen: "E")
        _ = try await evaluate(f, config)
        let mailer = Mailer(transport: Mailer.transport(for: config))
        // The retry time is bracketed by the server's clock read just before and just after
        // the flush, not compared with the time the test looks: a CI run once held this
        // test up past the first retry's wait.
        let before = try await f.db.query("SELECT clock_timestamp()::text").scalar(as: String.self)
        let down = try await mailer.flush(f.db)
        let after = try await f.db.query("SELECT clock_timestamp()::text").scalar(as: String.self)
        #expect(down.deferred == 2 && down.sent == 0)
        let waiting = try #require(try await f.db.query(
            """
            SELECT attempts, last_error, extract(epoch FROM next_attempt_at - $1::timestamptz)::float8 AS at_most,
                   extract(epoch FROM next_attempt_at - $2::timestamptz)::float8 AS at_least
              FROM mail_outbox ORDER BY id LIMIT 1
            """, before, after).singleRow())
        #expect(try waiting.decode("attempts", as: Int.self) == 1)
        // The first retry: (1⁴ + 15) s, less up to a fifth for jitter, 12.8–16 s after the failure.
        let (atMost, atLeast) = (try waiting.decode("at_most", as: Double.self), try waiting.decode("at_least", as: Double.self))
        #expect(atMost >= 12.75 && atLeast <= 16.05, "\(atMost) \(atLeast)")
        #expect(try waiting.decode("last_error", as: String.self).contains("exit 75"))
        let counts = try await MailOutboxCounts.read(f.db)
        #expect(counts.pending == 2 && counts.failed == 0 && counts.oldestPending != nil, "\(counts)")
        // Not yet due (the retry times moved an hour on, so however long this test is held
        // up): nothing is retried early.
        try await f.db.execute("UPDATE mail_outbox SET next_attempt_at = now() + interval '1 hour'")
        #expect(try await mailer.flush(f.db) == FlushResult())
        // The MTA is back and the retry time has come.
        try setMTA(exit: 0)
        try await f.db.execute("UPDATE mail_outbox SET next_attempt_at = now()")
        #expect(try await mailer.flush(f.db).sent == 2)
        let handed = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasPrefix("handed-over-") }
        let ids = try handed.compactMap { name -> String? in
            let text = try String(contentsOfFile: folder + "/" + name, encoding: .utf8)
            return text.split(separator: "\r\n").first { $0.hasPrefix("Message-ID:") }.map(String.init)
        }
        // Four hand-overs (two refused, two accepted) of two messages, each with one stable id.
        #expect(ids.count == 4)
        #expect(Set(ids).count == 2)
    }

    /// Refuses every message for now; on the last, makes the first due again, as the clock
    /// would in a flush that outlasts a retry's wait.
    struct SlowDownMTA: MailTransport {
        let url: String
        let last: Int64
        func deliver(_ message: [UInt8], recipients: [String], id: Int64) async throws(TransportFailure) {
            if id == last {
                do {
                    let db = try await PostgresConnection.connect(url)
                    try await db.execute("UPDATE mail_outbox SET next_attempt_at = now() WHERE id <> $1", id)
                    await db.close()
                } catch {
                    throw TransportFailure(temporary: false, message: "the test's own connection failed: \(error)")
                }
            }
            throw TransportFailure(temporary: true, message: "try later")
        }
    }

    // CI once saw a loaded machine's flush outlast the first retry's wait and hand a message
    // to the MTA that was down twice in one flush.
    @Test func aFlushHandsEachMessageOverAtMostOnce() async throws {
        let f = try await EvaluationFixture.make("mail-once-per-flush")
        let config = try Self.config(maildir: try TestProcess.temporaryDirectory("mail-once"))
        try await f.pupil(1, sen: "E")
        _ = try await evaluate(f, config)
        let ids = try await f.db.query("SELECT id FROM mail_outbox ORDER BY id").rows.map { try $0.decode("id", as: Int64.self) }
        #expect(ids.count == 2)
        let last = try #require(ids.last)
        let result = try await Mailer(transport: SlowDownMTA(url: f.url, last: last)).flush(f.db)
        #expect(result == { var r = FlushResult(); r.deferred = 2; return r }())
        let attempts = try await f.db.query("SELECT attempts FROM mail_outbox ORDER BY id").rows.map { try $0.decode("attempts", as: Int.self) }
        #expect(attempts == [1, 1])
    }

    @Test func aTrustCanWordTheDigestItsOwnWay() async throws {
        let folder = try TestProcess.temporaryDirectory("templates")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for name in ["senco-digest.txt", "senco-digest.html", "trust-digest.txt", "trust-digest.html"] {
            let shipped = try String(contentsOfFile: "\(Self.templates)/\(name).mustache", encoding: .utf8)
            try shipped.write(toFile: "\(folder)/\(name).mustache", atomically: true, encoding: .utf8)
        }
        try "Dear SENCO of {{{school}}}, please look at {{count}} new item(s).\n{{#groups}}{{#items}}* {{{who}}}\n{{/items}}{{/groups}}{{#need}}* {{{text}}}\n{{/need}}"
            .write(toFile: folder + "/senco-digest.txt.mustache", atomically: true, encoding: .utf8)
        let config = try Self.config(maildir: folder + "/mail", templates: folder)
        let f = try await EvaluationFixture.make("mail-wording")
        try await f.pupil(1, sen: "K")
        _ = try await evaluate(f, config)
        let raw = try await f.db.query(
            "SELECT convert_from(message, 'UTF8') AS m FROM mail_outbox WHERE 'senco@test.example' = ANY(recipients)").scalar(as: String.self)
        let text = plainText(of: raw)
        #expect(text.hasPrefix("Dear SENCO of Test Primary, please look at 1 new item(s)."))
        // Pupils with SEN and no provision are one counted line, not a line each.
        #expect(text.contains("* 1 pupil with SEN and no active provision\n"), "\(text)")
    }

    @Test func aMissingTemplateIsAConfigurationError() async throws {
        let folder = try TestProcess.temporaryDirectory("templates-missing")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try "x".write(toFile: folder + "/senco-digest.txt.mustache", atomically: true, encoding: .utf8)
        let config = try Self.config(maildir: folder, templates: folder)
        let error = await #expect(throws: ConfigError.self) { _ = try await DigestTemplates.load(config) }
        #expect(error?.message.contains(".mustache is missing") == true)
    }

    @Test func theTrustDigestNamesProgrammesThatAreNotWorking() async throws {
        let folder = try TestProcess.temporaryDirectory("trust-digest")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let config = try Self.config(maildir: folder)
        let f = try await EvaluationFixture.make("mail-programmes")
        // The same programme in two groups: six pupils who fell behind.
        for (group, pupils) in [("FAST-A", 1...3), ("FAST-B", 4...6)] {
            let id = try await f.db.query(
                """
                INSERT INTO provisions (school_id, provision_id, name, start_date, end_date, outcome_instrument,
                                        outcome_subject, outcome_measure)
                VALUES ($1, $2, 'Fast Track Reading', '2025-09-15', '2025-12-12', 'Salford', 'reading', 'age_months') RETURNING id
                """, f.school, group).scalar(as: Int64.self)
            for n in pupils {
                try await f.enrol(id, try await f.pupil(n, sen: "K"), entry: (80, "2025-09-10"), exit: (80 + Double(n % 2), "2025-12-15"))
            }
        }
        _ = try await evaluate(f, config)
        let raw = try await f.db.query(
            "SELECT convert_from(message, 'UTF8') AS m FROM mail_outbox WHERE 'lead@trust.example' = ANY(recipients)").scalar(as: String.self)
        let text = plainText(of: raw)
        #expect(text.contains("Programmes not working across the trust:"))
        #expect(text.contains("  - Fast Track Reading: mean ratio gain 0.16 over 6 pupils"))
    }
}
