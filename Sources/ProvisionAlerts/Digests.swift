import Foundation
import Postgres
import ProvisionConfig
import ProvisionModel

/// Writes digest messages into the mail outbox (DESIGN §7). Pupils are named in the body,
/// never in a subject.
///
/// The policy a trust sets under `[mail]`:
/// - alerts of the `immediate_rules` (EHCP provision not delivered, by default) are mailed to
///   the school's SENCOs as they open, in the evaluation's transaction (``queue(_:runID:config:templates:)``);
/// - everything else waits for the school's **digest**: at most once a school day, at
///   `digest_time` (``queueDue(_:config:templates:now:asIfDigestTime:)``), listing at most
///   `max_items` alerts, most urgent first, and counting the rest with where to see them;
///   pupils with SEN and no provision are one line with their count; items whose cause is
///   older than the previous term are counted under "older items", not sent as news; and
///   any programme the school runs that is judged ineffective across the trust is named;
/// - the trust's SEND lead gets at most one digest a day, after the trust-wide evaluation.
///
/// Acknowledged and snoozed alerts are not mailed; a snooze that ends makes its alert new
/// again. `provisiond --once` and `provisionctl mail flush` send what is waiting as if it
/// were digest time.
public enum Digests {
    /// Rules in the order a SENCO should act on them, with what to do next.
    static let rules: [(rule: String, title: String, next: String)] = [
        ("ehcp_provision_not_delivered", "EHCP provision not being delivered",
         "Statutory provision must be delivered: arrange it now, record why it is late, and tell the family and the local authority."),
        ("stalled_pupil", "Pupils whose progress has stalled",
         "Look at this pupil's recent work and assessments with their teacher; consider a review of their support."),
        ("ineffective_intervention", "Interventions that are not working",
         "Review how the intervention is delivered, or replace it; compare with programmes that work elsewhere in the trust."),
        ("missing_exit_data", "Interventions that ended without exit data",
         "Record the exit (\"test off\") score on the provision map, or assess the pupil now."),
        ("duplicated_provision", "Pupils in overlapping interventions",
         "Check whether both are needed; two interventions for one outcome make neither's impact measurable."),
        ("need_without_provision", "Pupils with SEN and no active provision",
         "Check the pupil's plan: add them to the provision map, or record why no additional provision is needed."),
        ("review_overdue", "Plans overdue for review",
         "Hold the review with the pupil and their parents, or set a new review date at the next one."),
        ("target_date_passed", "Targets past their date without a rating",
         "Rate the target at the plan's review, or hold the review now if it is due."),
        ("parents_not_informed", "New plans not yet shared with parents",
         "Share the plan with the pupil's parents (the printable plan is in the console) and record when and how."),
    ]

    /// "1 pupil", "3 pupils".
    static func count(_ n: Int, _ singular: String, _ plural: String? = nil) -> String {
        "\(n) \(n == 1 ? singular : plural ?? singular + "s")"
    }

    // MARK: Immediate

    /// Queues, in the evaluation's transaction, a message to each school's SENCOs for the
    /// new alerts of the immediate rules, and marks them told.
    /// - Returns: how many messages were queued.
    @discardableResult
    public static func queue(
        _ db: PostgresConnection, runID: Int64, config: Configuration, templates: DigestTemplates
    ) async throws -> Int {
        guard !config.mail.immediateRules.isEmpty else { return 0 }
        var queued = 0
        let schools = config.schools.filter { !$0.sencos.isEmpty }
        let waiting = try await newAlerts(db, schools: schools.map(\.urn), rules: Array(config.mail.immediateRules))
        for school in schools {
            guard let items = waiting[school.urn], !items.isEmpty else { continue }
            let context = sencoContext(
                school: school.name, urn: school.urn, listed: items, more: [], need: nil, older: [], programmes: [],
                config: config, urgent: true)
            let message = MailMessage(
                from: config.mail.from, to: school.sencos,
                subject: "SEND Provision: urgent, \(count(items.count, "new alert")) for \(school.name)",
                text: templates.render("senco-digest.txt", context), html: templates.render("senco-digest.html", context),
                messageID: "<urgent-\(runID)-\(school.urn)@send-provision>", date: Date())
            queued += try await enqueue(db, message)
            try await markTold(db, items.map(\.id))
        }
        return queued
    }

    // MARK: Due digests

    /// Queues the digests due at `now` (in the caller's transaction): each school's, on a
    /// school day from `digest_time` on and once that day; the SEND lead's once a day after a
    /// trust-wide evaluation. With `asIfDigestTime`, whatever is waiting goes now.
    /// - Returns: how many messages were queued.
    @discardableResult
    public static func queueDue(
        _ db: PostgresConnection, config: Configuration, templates: DigestTemplates, now: Date = Date(),
        asIfDigestTime: Bool = false
    ) async throws -> Int {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = config.daemon.timeZone
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .weekday], from: now)
        let day = String(format: "%04d-%02d-%02d", parts.year ?? 1970, parts.month ?? 1, parts.day ?? 1)
        let minutes = (parts.hour ?? 0) * 60 + (parts.minute ?? 0)
        let digestTime = config.mail.digestTime.hour * 60 + config.mail.digestTime.minute
        let schoolDay = config.mail.digestWeekdays.contains(parts.weekday ?? 0)
        var queued = 0
        // The mailer asks at least every 30 seconds; once a scope's digest of the day is sent,
        // no other can be that day (``claim(_:scope:day:again:)``), so its alerts are not
        // looked at again: at a million pupils, finding none untold read every open alert,
        // 130 ms for the lead and 3-10 ms for each of 200 schools, at every wake-up.
        let sentToday = asIfDigestTime ? [] : Set(
            try await db.query("SELECT scope FROM digest_sends WHERE day = $1::date", day).rows.map {
                try $0.decode("scope", as: String.self)
            })

        let due = asIfDigestTime || (schoolDay && minutes >= digestTime)
        let schools = due ? config.schools.filter { !$0.sencos.isEmpty && !sentToday.contains("school:" + $0.urn) } : []
        let waiting = try await newAlerts(db, schools: schools.map(\.urn))
        for school in schools {
            // The day is claimed only by a digest that has something to say.
            guard let items = waiting[school.urn], !items.isEmpty,
                  try await claim(db, scope: "school:" + school.urn, day: day, again: asIfDigestTime)
            else { continue }
            queued += try await sencoDigest(db, school: school, items: items, config: config, templates: templates, now: now, day: day)
        }

        if !config.trust.sendLead.isEmpty, !sentToday.contains("trust") {
            let trustEvaluatedToday = try await db.query(
                """
                SELECT 1 FROM evaluation_runs WHERE school_id IS NULL AND status = 'succeeded'
                   AND (finished_at AT TIME ZONE $1)::date = $2::date LIMIT 1
                """, config.daemon.timeZone.identifier, day
            ).singleRow() != nil
            if asIfDigestTime || trustEvaluatedToday,
                try await db.query("SELECT 1 FROM alerts WHERE status = 'open' AND lead_notified_at IS NULL LIMIT 1").singleRow() != nil,
                try await claim(db, scope: "trust", day: day, again: asIfDigestTime)
            {
                queued += try await leadDigest(db, config: config, templates: templates, now: now, day: day)
            }
        }
        return queued
    }

    /// Claims a digest for `scope` on `day`; false when one was already sent (unless `again`).
    private static func claim(_ db: PostgresConnection, scope: String, day: String, again: Bool) async throws -> Bool {
        let claimed = try await db.execute(
            """
            INSERT INTO digest_sends (scope, day) VALUES ($1, $2::date)
            ON CONFLICT (scope, day) DO UPDATE SET sent_at = now() WHERE $3
            """, scope, day, again)
        return claimed > 0
    }

    struct Item {
        let id: Int64
        let rule: String
        let who: String
        let reason: String
        /// When what the alert is about happened, where that is known (an ended intervention).
        let causeDate: String?
    }

    /// Open, untold, unanswered alerts of the schools with URNs `urns`, by URN, each school's
    /// most urgent first. One query for them all: one per school was 20 round trips of every
    /// trust evaluation, and 200 of every mailer wake-up at digest time in a large deployment.
    static func newAlerts(_ db: PostgresConnection, schools urns: [String], rules: [String]? = nil) async throws -> [String: [Item]] {
        guard !urns.isEmpty else { return [:] }
        var bySchool: [String: [Item]] = [:]
        for row in try await db.query(
            """
            SELECT s.urn, a.id, a.rule, a.reason, a.numbers->>'end_date' AS cause_date,
                   p.forename, p.surname, p.year_group, p.upn, pr.name AS provision
              FROM alerts a JOIN schools s ON s.id = a.school_id
              LEFT JOIN pupils p ON p.id = a.pupil_id LEFT JOIN provisions pr ON pr.id = a.provision_id
             WHERE s.urn = ANY($1::text[]) AND a.status = 'open' AND a.notified_at IS NULL AND a.answer IS NULL
               AND ($2::text[] IS NULL OR a.rule = ANY($2::text[]))
             ORDER BY s.urn, a.priority DESC, a.evidence DESC NULLS LAST, p.surname, p.forename, a.subject_key
            """, urns, rules
        ).rows {
            bySchool[try row.decode("urn", as: String.self), default: []].append(try item(row))
        }
        return bySchool
    }

    /// An alert as a digest lists it, from a row of ``newAlerts(_:schools:rules:)``.
    private static func item(_ row: PostgresRow) throws -> Item {
        let who: String
        if let surname = try row.decode("surname", as: String?.self) {
            let forename = try row.decode("forename", as: String?.self) ?? ""
            let year = try row.decode("year_group", as: String?.self).map { " (Year \($0))" } ?? ""
            who = "\(forename) \(surname)\(year), UPN \(try row.decode("upn", as: String.self))"
        } else {
            who = try row.decode("provision", as: String?.self) ?? "the school"
        }
        return Item(
            id: try row.decode("id"), rule: try row.decode("rule"), who: who, reason: try row.decode("reason"),
            causeDate: try row.decode("cause_date"))
    }

    private static func markTold(_ db: PostgresConnection, _ ids: [Int64]) async throws {
        guard !ids.isEmpty else { return }
        try await db.execute("UPDATE alerts SET notified_at = now() WHERE id = ANY($1::bigint[])", ids.map(String.init))
    }

    /// The first day of the term before the one `day` is in (terms: autumn from September,
    /// spring from January, summer from April, as the reports count them).
    static func previousTermStart(_ day: String) -> String {
        let parts = day.split(separator: "-").compactMap { Int($0) }
        let (year, month) = (parts.first ?? 1970, parts.dropFirst().first ?? 1)
        switch month {
        case 9...: return "\(year)-04-01"
        case 4...: return "\(year)-01-01"
        default: return "\(year - 1)-09-01"
        }
    }

    /// Where a person sees a school's reports: links under `reports.url_base`, else the
    /// folder the daemon writes them to and the command that makes them.
    static func whereToSee(_ config: Configuration, urn: String, report: String) -> String {
        if let base = config.reports.urlBase { return "\(base)/\(urn)/" }
        return "\(config.stateDirectory)/reports/\(urn)/ (or run: provisionctl report \(report) --school \(urn))"
    }

    private static func sencoDigest(
        _ db: PostgresConnection, school: Configuration.School, items: [Item], config: Configuration,
        templates: DigestTemplates, now: Date, day: String
    ) async throws -> Int {
        // Terms are counted from the latest evaluation's date (today, in the daemon).
        let evaluatedOn = try await db.query(
            "SELECT max(as_of)::text AS day FROM evaluation_runs WHERE status = 'succeeded'"
        ).singleRow()?.decode("day", as: String?.self)
        let olderThan = previousTermStart(evaluatedOn ?? day)
        let need = items.filter { $0.rule == "need_without_provision" }
        let older = items.filter { $0.rule != "need_without_provision" && ($0.causeDate.map { $0 < olderThan } ?? false) }
        let current = items.filter { item in item.rule != "need_without_provision" && !older.contains { $0.id == item.id } }
        let listed = Array(current.prefix(config.mail.maxItems))
        let more = Array(current.dropFirst(config.mail.maxItems))
        let programmes = try await trustKnowledge(db, school: school.urn)
        let context = sencoContext(
            school: school.name, urn: school.urn, listed: listed, more: more, need: need.isEmpty ? nil : need.count,
            older: older, programmes: programmes, config: config, urgent: false)
        let message = MailMessage(
            from: config.mail.from, to: school.sencos,
            subject: "SEND Provision: \(count(items.count, "new alert")) for \(school.name)",
            text: templates.render("senco-digest.txt", context), html: templates.render("senco-digest.html", context),
            messageID: "<digest-\(day)-\(school.urn)-\(messageKey(items.map(\.id)))@send-provision>", date: now)
        let queued = try await enqueue(db, message)
        try await markTold(db, items.map(\.id))
        return queued
    }

    static func sencoContext(
        school: String, urn: String, listed: [Item], more: [Item], need: Int?, older: [Item],
        programmes: [[String: Any]], config: Configuration, urgent: Bool
    ) -> [String: Any] {
        let groups: [[String: Any]] = rules.compactMap { rule in
            let items = listed.filter { $0.rule == rule.rule }
            guard !items.isEmpty else { return nil }
            return [
                "title": rule.title, "next": rule.next, "count": items.count,
                "items": items.map { ["who": $0.who, "reason": $0.reason] },
            ]
        }
        let moreCounts = rules.compactMap { rule -> String? in
            let n = more.filter { $0.rule == rule.rule }.count
            return n == 0 ? nil : "\(n) × \(rule.title.lowercased())"
        }
        var context: [String: Any] = [
            "school": school, "urgent": urgent, "count": listed.count + more.count + (need ?? 0) + older.count,
            "groups": groups, "reports": whereToSee(config, urn: urn, report: "provision-map"),
            "programmes": programmes, "has_programmes": !programmes.isEmpty,
        ]
        if !more.isEmpty {
            context["more"] = [
                "count": more.count, "details": moreCounts.joined(separator: "; "),
                "where": "provisionctl alerts list --school \(urn)",
            ] as [String: Any]
        }
        if let need {
            context["need"] = [
                "text": "\(count(need, "pupil")) with SEN and no active provision",
                "next": rules.first { $0.rule == "need_without_provision" }?.next ?? "",
                "where": whereToSee(config, urn: urn, report: "needs"),
            ] as [String: Any]
        }
        if !older.isEmpty {
            let oldest = older.compactMap(\.causeDate).min() ?? ""
            context["older"] = [
                "text": "\(count(older.count, "item")) about interventions that ended before this term and last (the oldest on \(oldest))",
                "where": "provisionctl alerts list --school \(urn)",
            ] as [String: Any]
        }
        return context
    }

    /// Programmes this school runs now (or plans) that the latest trust-wide evaluation
    /// judged ineffective, with the trust's figure and what works better for that outcome.
    static func trustKnowledge(_ db: PostgresConnection, school urn: String) async throws -> [[String: Any]] {
        let rows = try await db.query(
            """
            WITH latest AS (SELECT max(id) AS id FROM evaluation_runs WHERE school_id IS NULL AND status = 'succeeded'),
            judged AS (
                SELECT o.* FROM provision_outcomes o, latest WHERE o.evaluation_run_id = latest.id AND o.provision_id IS NULL),
            running AS (
                SELECT DISTINCT pr.name, regexp_replace(lower(pr.name), '[^a-z0-9]', '', 'g') || '|' || pr.outcome_measure AS programme
                  FROM provisions pr JOIN schools s ON s.id = pr.school_id
                 WHERE s.urn = $1 AND coalesce(pr.end_date, current_date) >= current_date)
            SELECT r.name, j.n, j.measure, j.value_added::float8 AS value_added, j.effect::float8 AS effect,
                   (SELECT b.name || ' (' || round(coalesce(b.value_added, b.effect), 1) || ')' FROM judged b
                     WHERE b.verdict = 'effective' AND b.measure = j.measure
                     ORDER BY coalesce(b.value_added, b.effect) DESC LIMIT 1) AS better
              FROM running r JOIN judged j ON j.programme = r.programme
             WHERE j.verdict = 'ineffective'
             ORDER BY r.name
            """, urn)
        return try rows.rows.map { row in
            let measure: String = try row.decode("measure")
            let n: Int = try row.decode("n")
            var figure: String
            if let added = try row.decode("value_added", as: Double?.self) {
                figure = measure == "age_months"
                    ? String(format: "%+.1f months of extra progress a month", added)
                    : String(format: "%+.1f standardised points beyond what pupils' earlier results predicted", added)
            } else {
                let effect = try row.decode("effect", as: Double?.self) ?? 0
                figure = measure == "age_months" ? String(format: "a mean ratio gain of %.2f", effect) : String(format: "a mean gain of %.1f", effect)
            }
            figure += " over \(count(n, "pupil")) across the trust"
            return [
                "name": try row.decode("name", as: String.self), "figure": figure,
                "better": try row.decode("better", as: String?.self).map { "Judged effective across the trust for the same outcome: \($0)." } ?? "",
            ]
        }
    }

    private static func leadDigest(
        _ db: PostgresConnection, config: Configuration, templates: DigestTemplates, now: Date, day: String
    ) async throws -> Int {
        let rows = try await db.query(
            """
            SELECT a.id, a.rule, s.urn, s.name FROM alerts a JOIN schools s ON s.id = a.school_id
             WHERE a.status = 'open' AND a.lead_notified_at IS NULL ORDER BY s.urn, a.id
            """).rows
        guard !rows.isEmpty else { return 0 }
        var bySchool: [(urn: String, name: String, rules: [String])] = []
        for row in rows {
            let urn: String = try row.decode("urn")
            if bySchool.last?.urn == urn {
                bySchool[bySchool.count - 1].rules.append(try row.decode("rule"))
            } else {
                bySchool.append((urn, try row.decode("name"), [try row.decode("rule")]))
            }
        }
        let schools: [[String: Any]] = bySchool.map { school in
            let counts = rules.map { rule in school.rules.filter { $0 == rule.rule }.count }
            let details = zip(rules, counts).filter { $0.1 > 0 }.map { "\($0.0.title.lowercased()) \($0.1)" }
            return [
                "name": school.name, "total": school.rules.count, "details": details.joined(separator: "; "),
                "counts": counts.map { ["count": $0] },
            ]
        }
        // Programmes judged ineffective across the trust in the latest trust-wide evaluation.
        let programmes: [[String: Any]] = try await db.query(
            """
            SELECT name, n, round(effect, 2)::float8 AS effect, round(value_added, 2)::float8 AS value_added, measure
              FROM provision_outcomes
             WHERE evaluation_run_id = (SELECT max(id) FROM evaluation_runs WHERE school_id IS NULL AND status = 'succeeded')
               AND provision_id IS NULL AND verdict = 'ineffective' ORDER BY name
            """
        ).rows.map { row in
            let measure: String = try row.decode("measure")
            let effect: String
            if let added = try row.decode("value_added", as: Double?.self) {
                effect = measure == "age_months" ? String(format: "%+.1f months of extra progress a month", added)
                    : String(format: "%+.1f standardised points of value added", added)
            } else {
                let value = try row.decode("effect", as: Double?.self).map { String(format: "%.2f", $0) } ?? "?"
                effect = measure == "age_months" ? "mean ratio gain \(value)" : "mean gain \(value)"
            }
            return ["name": try row.decode("name", as: String.self), "n": try row.decode("n", as: Int.self), "effect": effect]
        }
        let context: [String: Any] = [
            "trust": config.trust.name, "rules": rules.map { ["title": $0.title] }, "schools": schools,
            "programmes": programmes, "has_programmes": !programmes.isEmpty,
        ]
        let message = MailMessage(
            from: config.mail.from, to: config.trust.sendLead,
            subject: "SEND Provision: \(count(rows.count, "new alert")) across \(config.trust.name)",
            text: templates.render("trust-digest.txt", context), html: templates.render("trust-digest.html", context),
            messageID: "<digest-\(day)-trust-\(messageKey(try rows.map { try $0.decode("id", as: Int64.self) }))@send-provision>", date: now)
        let queued = try await enqueue(db, message)
        let ids = try rows.map { String(try $0.decode("id", as: Int64.self)) }
        try await db.execute("UPDATE alerts SET lead_notified_at = now() WHERE id = ANY($1::bigint[])", ids)
        return queued
    }

    /// A Message-ID part that names exactly these alerts: the same digest queued twice is one
    /// message, two digests of one day are two.
    static func messageKey(_ ids: [Int64]) -> String {
        String(StableHash.fnv1a(ids.sorted().map(String.init).joined(separator: ",")), radix: 36)
    }

    static func enqueue(_ db: PostgresConnection, _ message: MailMessage) async throws -> Int {
        try await db.execute(
            """
            INSERT INTO mail_outbox (message_id, recipients, subject, message)
            VALUES ($1, $2::text[], $3, convert_to($4, 'UTF8')) ON CONFLICT (message_id) DO NOTHING
            """, message.messageID, message.to, message.subject, String(decoding: message.rfc5322(), as: UTF8.self))
    }
}
