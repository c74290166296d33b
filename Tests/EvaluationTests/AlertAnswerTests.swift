import Foundation
import Postgres
import ProvisionAlerts
import ProvisionConfig
import ProvisionEvaluation
import ProvisionModel
import ProvisionTestSupport
import Testing

/// Alerts a SENCO answers: acknowledged, snoozed, dismissed, each kept with who and why.
@Suite("answering alerts")
struct AlertAnswerTests {
    /// What every caller runs (``evaluateAndAlert``), then the digests due at digest time.
    func evaluate(_ f: EvaluationFixture, _ config: Configuration, asOf: SchoolDate = EvaluationFixture.asOf) async throws -> AlertChanges {
        var (_, changes) = try await evaluateAndAlert(f.db, config: config, asOf: asOf)
        let templates = try await DigestTemplates.load(config)
        changes.messagesQueued += try await Digests.queueDue(f.db, config: config, templates: templates, asIfDigestTime: true)
        return changes
    }

    func alert(_ f: EvaluationFixture, pupil: Int64) async throws -> (id: Int64, status: String, answer: String?) {
        let row = try #require(try await f.db.query(
            "SELECT id, status, answer FROM alerts WHERE pupil_id = $1 ORDER BY id DESC LIMIT 1", pupil).singleRow())
        return (try row.decode("id"), try row.decode("status"), try row.decode("answer"))
    }

    /// The plain text of the newest message to the school's SENCO.
    func lastSencoDigest(_ f: EvaluationFixture) async throws -> String {
        let message = try await f.db.query(
            "SELECT convert_from(message, 'UTF8') AS m FROM mail_outbox WHERE 'senco@test.example' = ANY(recipients) ORDER BY id DESC LIMIT 1"
        ).scalar(as: String.self)
        return plainText(of: message)
    }

    @Test func anAcknowledgedAlertIsNotMailedAgainAndASnoozedOneComesBack() async throws {
        let f = try await EvaluationFixture.make("answers-ack")
        let config = try MailTests.config(maildir: "/nonexistent")
        let acting = try await f.pupil(1, sen: "K")
        let later = try await f.pupil(2, sen: "E")
        #expect(try await evaluate(f, config).messagesQueued == 2)  // the SENCO's digest and the lead's

        let first = try await alert(f, pupil: acting)
        try await AlertAnswers.record(f.db, alert: first.id, answer: .acknowledged, by: "senco@test.example",
                                      note: "Seen; starting Talk Boost after half term.", today: EvaluationFixture.asOf)
        let second = try await alert(f, pupil: later)
        try await AlertAnswers.record(f.db, alert: second.id, answer: .snoozed, by: "senco@test.example",
                                      note: "Review after half term.", until: SchoolDate(iso: "2026-02-20"), today: EvaluationFixture.asOf)

        // Nothing new, nothing mailed; both still open, each with its answer.
        #expect(try await evaluate(f, config).messagesQueued == 0)
        #expect(try await alert(f, pupil: acting) == (first.id, "open", "acknowledged"))
        #expect(try await alert(f, pupil: later) == (second.id, "open", "snoozed"))

        // After the snooze date the second comes back and is mailed; the acknowledged one is not.
        let back = try await evaluate(f, config, asOf: SchoolDate(iso: "2026-02-21")!)
        #expect(back.snoozesEnded == 1)
        #expect(back.messagesQueued == 1)  // the SENCO's; the lead was told when it opened
        #expect(try await alert(f, pupil: later) == (second.id, "open", nil))
        // One pupil with SEN and no provision: the returning one, not the acknowledged one.
        let digest = try await lastSencoDigest(f)
        #expect(digest.contains("\n1 pupil with SEN and no active provision: see the needs report"), "\(digest)")
        let actions = try await AlertAnswers.history(f.db, alerts: [first.id, second.id])
        #expect(actions[first.id]?.map(\.action) == ["acknowledged"])
        #expect(actions[first.id]?.first?.note == "Seen; starting Talk Boost after half term.")
        #expect(actions[first.id]?.first?.by == "senco@test.example")
        #expect(actions[second.id]?.map(\.action) == ["snoozed", "snooze_ended"])
        #expect(actions[second.id]?.first?.until == SchoolDate(iso: "2026-02-20"))
    }

    @Test func aDismissedAlertReopensOnlyWhenItsFiguresGetWorse() async throws {
        let f = try await EvaluationFixture.make("answers-dismiss")
        let config = try MailTests.config(maildir: "/nonexistent")
        // Six pupils who lose ground in one intervention: an ineffective-intervention alert.
        let fast = try await f.provision("FAST")
        var pupils: [Int64] = []
        for n in 1...6 {
            let pupil = try await f.pupil(n)
            pupils.append(pupil)
            try await f.enrol(fast, pupil, entry: (80, "2025-09-10"), exit: (80 + Double(n % 2), "2025-12-15"))
        }
        _ = try await evaluate(f, config)
        let alert = try #require(try await f.db.query(
            "SELECT id FROM alerts WHERE rule = 'ineffective_intervention'").singleRow()?.decode("id", as: Int64.self))
        try await AlertAnswers.record(f.db, alert: alert, answer: .dismissed, by: "lead@trust.example",
                                      note: "Pilot group; replaced next term.", today: EvaluationFixture.asOf)

        // Same figures: it stays dismissed, and no new alert opens.
        let same = try await evaluate(f, config)
        #expect(same.opened == 0 && same.reopened == 0)
        #expect(try await f.db.query("SELECT status FROM alerts WHERE id = $1", alert).scalar(as: String.self) == "dismissed")

        // Better figures (one pupil's exit rises): still dismissed.
        try await f.db.execute("UPDATE enrolments SET exit_value = 86 WHERE pupil_id = $1", pupils[0])
        #expect(try await evaluate(f, config).reopened == 0)

        // Worse figures: a new alert opens, saying why, and it is mailed.
        try await f.db.execute("UPDATE enrolments SET exit_value = 70 WHERE pupil_id = ANY($1::bigint[])", pupils.map(String.init))
        let worse = try await evaluate(f, config)
        #expect(worse.reopened == 1)
        #expect(worse.messagesQueued == 2)
        let reopened = try #require(try await f.db.query(
            "SELECT id, reason, reopened_from FROM alerts WHERE rule = 'ineffective_intervention' AND status = 'open'").singleRow())
        #expect(try reopened.decode("reopened_from", as: Int64?.self) == alert)
        #expect(try reopened.decode("reason", as: String.self).hasPrefix("Reopened: the figures are worse than when this was dismissed."))
        #expect(try await f.db.query("SELECT status FROM alerts WHERE id = $1", alert).scalar(as: String.self) == "resolved")
    }

    @Test func answersAreRefusedWithAReason() async throws {
        let f = try await EvaluationFixture.make("answers-refused")
        let config = try MailTests.config(maildir: "/nonexistent")
        let pupil = try await f.pupil(1, sen: "K")
        _ = try await evaluate(f, config)
        let open = try await alert(f, pupil: pupil)
        let cases: [(Int64, AlertAnswers.Answer, String, String, SchoolDate?, String)] = [
            (999_999, .acknowledged, "senco@test.example", "note", nil, "there is no alert 999999"),
            (open.id, .acknowledged, "not an address", "note", nil, "--by must be the email address"),
            (open.id, .acknowledged, "senco@test.example", "  ", nil, "a note (1–2,000 characters) is required"),
            (open.id, .acknowledged, "senco@test.example", "seen \u{202E}by the SENCO", nil, "the note contains bidirectional control characters"),
            (open.id, .snoozed, "senco@test.example", "note", SchoolDate(iso: "2026-01-01"), "a snooze needs --until DATE after today"),
        ]
        for (id, answer, by, note, until, expected) in cases {
            let refusal = await #expect(throws: AlertAnswers.Refusal.self) {
                try await AlertAnswers.record(f.db, alert: id, answer: answer, by: by, note: note, until: until, today: EvaluationFixture.asOf)
            }
            #expect(refusal?.description.hasPrefix(expected) == true, "\(refusal?.description ?? "")")
        }
        // A note may run over several lines.
        try await AlertAnswers.record(
            f.db, alert: open.id, answer: .dismissed, by: "senco@test.example", note: "Wave 1 is enough.\r\nLook again in spring.",
            today: EvaluationFixture.asOf)
        let closed = await #expect(throws: AlertAnswers.Refusal.self) {
            try await AlertAnswers.record(f.db, alert: open.id, answer: .acknowledged, by: "senco@test.example", note: "again", today: EvaluationFixture.asOf)
        }
        #expect(closed?.description == "alert \(open.id) is dismissed, not open: only open alerts can be answered")
        #expect(try await f.db.query("SELECT count(*) FROM alert_actions").scalar(as: Int.self) == 1)
    }
}
