import Foundation
import Postgres
import ProvisionAlerts
import ProvisionConfig
import ProvisionEvaluation
import ProvisionModel
import ProvisionTestSupport
import Testing

/// The digest policy: a SENCO's digest at most once a school day, listing the most urgent
/// `max_items` and counting the rest; the lead at most once a day.
@Suite("digest policy")
struct DigestPolicyTests {
    static func config(maxItems: Int = 25) throws -> Configuration {
        try MailTests.config(
            maildir: "/nonexistent",
            mail: """
                digest_time = "07:30"
                digest_days = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
                max_items = \(maxItems)
                """)
    }

    /// Evaluates the trust and applies the alerts; digests are left to `queueDue`.
    func evaluate(_ f: EvaluationFixture, _ config: Configuration) async throws -> Int {
        var immediate = 0
        let templates = try await DigestTemplates.load(config)
        _ = try await Evaluator(settings: .init()).run(f.db, asOf: EvaluationFixture.asOf) { db, run in
            _ = try await AlertLifecycle.apply(db, runID: run)
            immediate = try await Digests.queue(db, runID: run, config: config, templates: templates)
        }
        return immediate
    }

    func due(_ f: EvaluationFixture, _ config: Configuration, at now: Date) async throws -> Int {
        let templates = try await DigestTemplates.load(config)
        return try await f.db.transaction { db in try await Digests.queueDue(db, config: config, templates: templates, now: now) }
    }

    /// Today at `hour`:00 in the trust's time zone.
    func today(_ hour: Int, days: Int = 0) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "Europe/London")!
        let start = calendar.startOfDay(for: Date())
        return calendar.date(byAdding: .hour, value: hour + 24 * days, to: start)!
    }

    func sencoDigests(_ f: EvaluationFixture) async throws -> [String] {
        try await f.db.query(
            "SELECT convert_from(message, 'UTF8') AS m FROM mail_outbox WHERE 'senco@test.example' = ANY(recipients) ORDER BY id"
        ).rows.map { plainText(of: try $0.decode("m", as: String.self)) }
    }

    @Test func theFirstDigestListsTheMostUrgentAndCountsTheRest() async throws {
        let f = try await EvaluationFixture.make("digest-wall")
        let config = try Self.config(maxItems: 25)
        // 30 interventions that ended without exit data, and 40 pupils with SEN and no provision.
        for n in 1...30 {
            let reading = try await f.provision("RCU-\(n)")
            try await f.enrol(reading, try await f.pupil(n))
        }
        for n in 100..<140 { try await f.pupil(n, sen: "K") }
        // And one that ended last academic year: an older item, not news.
        let old = try await f.provision("OLD", start: "2025-01-13", end: "2025-03-01")
        try await f.enrol(old, try await f.pupil(200), start: "2025-01-13", end: "2025-03-01")
        #expect(try await evaluate(f, config) == 0, "nothing urgent: it waits for the digest")
        // Before digest time only the lead's goes (after the trust-wide evaluation); then the SENCO's.
        #expect(try await due(f, config, at: today(7)) == 1)
        #expect(try await sencoDigests(f).isEmpty)
        #expect(try await due(f, config, at: today(8)) == 1)
        let digest = try #require(try await sencoDigests(f).first)
        let listed = digest.split(separator: "\n").filter { $0.hasPrefix("  - ") }
        #expect(listed.count == 25, "\(digest)")
        #expect(digest.contains("\nAnd 5 more, less urgent (5 × interventions that ended without exit data): see provisionctl alerts list --school 139001."), "\(digest)")
        #expect(digest.contains("\n40 pupils with SEN and no active provision: see the needs report at "), "\(digest)")
        #expect(!digest.contains("On SEN support"), "pupils with no provision are counted, not listed")
        #expect(digest.contains("\nOlder items, not news: 1 item about interventions that ended before this term and last (the oldest on 2025-03-01)"), "\(digest)")
        // Everything was told: the next evaluation sends nothing new, the same day or the next.
        _ = try await evaluate(f, config)
        #expect(try await due(f, config, at: today(9)) == 0)
        #expect(try await due(f, config, at: today(8, days: 1)) == 0)
    }

    @Test func aSchoolIsMailedAtMostOnceADayAndTheLeadAtMostOnce() async throws {
        let f = try await EvaluationFixture.make("digest-daily")
        let config = try Self.config()
        try await f.pupil(1, sen: "K")
        _ = try await evaluate(f, config)
        #expect(try await due(f, config, at: today(8)) == 2)
        // A new alert later the same day waits for tomorrow's digest; the lead's too.
        try await f.pupil(2, sen: "E")
        _ = try await evaluate(f, config)
        #expect(try await due(f, config, at: today(12)) == 0)
        #expect(try await due(f, config, at: today(16)) == 0)
        // Tomorrow the school's digest goes; the lead's waits for a trust-wide evaluation that day.
        #expect(try await due(f, config, at: today(8, days: 1)) == 1)
        #expect(try await sencoDigests(f).count == 2)
        #expect(try await f.db.query("SELECT count(*) FROM mail_outbox WHERE 'lead@trust.example' = ANY(recipients)").scalar(as: Int.self) == 1)
    }

    @Test func eachSencoIsToldOfTheirOwnSchoolOnly() async throws {
        let f = try await EvaluationFixture.make("digest-schools")
        let config = try MailTests.config(
            maildir: "/nonexistent",
            mail: """
                digest_time = "07:30"
                digest_days = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
                [[schools]]
                urn = "139002"
                name = "Second Primary"
                sencos = ["senco@second.example"]
                """)
        let second = EvaluationFixture(
            db: f.db, url: f.url,
            school: try await f.db.query("INSERT INTO schools (urn, name) VALUES ('139002', 'Second Primary') RETURNING id").scalar(as: Int64.self))
        // In each school: EHCP provision not delivered (mailed at once), and a pupil on SEN
        // support with no provision (left for the digest).
        var upns: [String] = []
        for (school, n) in [(f, 1), (second, 2)] {
            let pupil = try await school.pupil(n, sen: "E")
            upns.append(try await f.db.query("SELECT upn FROM pupils WHERE id = $1", pupil).scalar(as: String.self))
            let speech = try await school.provision("SALT-\(n)", measure: nil, statutory: true, start: "2026-01-05", end: "2026-03-27")
            try await school.enrol(speech, pupil, start: "2026-01-05", end: "2026-03-27", status: "planned")
            try await school.pupil(10 + n, sen: "K")
        }
        #expect(try await evaluate(f, config) == 2, "one urgent message to each school")
        #expect(try await due(f, config, at: today(8)) == 3, "each school's digest, and the lead's")
        let sencos = [("senco@test.example", "Test Primary", upns[0]), ("senco@second.example", "Second Primary", upns[1])]
        for (own, other) in [(sencos[0], sencos[1]), (sencos[1], sencos[0])] {
            let messages = try await f.db.query(
                "SELECT convert_from(message, 'UTF8') AS m FROM mail_outbox WHERE $1 = ANY(recipients) ORDER BY id", own.0
            ).rows.map { plainText(of: try $0.decode("m", as: String.self)) }
            #expect(messages.count == 2, "\(own.0): \(messages)")
            #expect(messages.allSatisfy { $0.contains(own.1) && !$0.contains(other.1) && !$0.contains(other.2) }, "\(messages)")
            #expect(messages.first?.contains(own.2) == true, "the urgent message names the pupil: \(messages)")
        }
    }

    @Test func immediateRulesAreMailedAsTheyOpen() async throws {
        let f = try await EvaluationFixture.make("digest-urgent")
        let config = try Self.config()
        let pupil = try await f.pupil(1, sen: "E")
        let speech = try await f.provision("SALT", measure: nil, statutory: true, start: "2026-01-05", end: "2026-03-27")
        try await f.enrol(speech, pupil, start: "2026-01-05", end: "2026-03-27", status: "planned")
        #expect(try await evaluate(f, config) == 1)
        let urgent = try #require(try await sencoDigests(f).first)
        #expect(urgent.hasPrefix("Urgent: new alerts for Test Primary"), "\(urgent)")
        #expect(urgent.contains("EHCP provision not being delivered (1)"))
    }

    @Test func aSencoIsToldWhenAProgrammeTheyRunIsNotWorkingAcrossTheTrust() async throws {
        let f = try await EvaluationFixture.make("digest-trust-knows")
        let config = try Self.config()
        // Two past groups of FAST lost ground; a third group is running now.
        for group in 0..<2 {
            let fast = try await f.provision("FAST-\(group)")
            try await f.db.execute("UPDATE provisions SET name = 'Fast Track Reading' WHERE id = $1", fast)
            for n in 1...6 {
                try await f.enrol(fast, try await f.pupil(group * 10 + n), entry: (80, "2025-09-10"), exit: (80 + Double(n % 2), "2025-12-15"))
            }
        }
        let running = try await f.provision("FAST-now", start: "2026-11-02", end: "2027-07-16")
        try await f.db.execute("UPDATE provisions SET name = 'Fast Track Reading' WHERE id = $1", running)
        try await f.pupil(99, sen: "K")  // something new to mail about
        _ = try await evaluate(f, config)
        #expect(try await due(f, config, at: today(8)) >= 1)
        let digest = try #require(try await sencoDigests(f).first)
        #expect(digest.contains("What the trust knows about programmes you run:"), "\(digest)")
        #expect(digest.contains("  - Fast Track Reading is judged not to be working across the trust: a mean ratio gain of"), "\(digest)")
        #expect(digest.contains("over 12 pupils across the trust."), "\(digest)")
    }
}
