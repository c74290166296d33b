import Foundation
import Postgres
import ProvisionConfig

/// Writes digest messages for the alerts an evaluation opened into the mail outbox, in the
/// evaluation's transaction: one per school to its SENCOs (nothing when nothing is new),
/// and one to the trust's SEND lead. Pupils are named in the body, never in a subject.
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
    ]

    /// Queues the digests for the alerts opened in this transaction and marks them notified.
    /// - Returns: how many messages were queued.
    @discardableResult
    public static func queue(
        _ db: PostgresConnection, runID: Int64, config: Configuration, templates: DigestTemplates
    ) async throws -> Int {
        let rows = try await db.query(
            """
            SELECT a.id, a.rule, a.priority, a.reason, s.urn, s.name AS school,
                   p.forename, p.surname, p.year_group, p.upn, pr.name AS provision
              FROM alerts a JOIN schools s ON s.id = a.school_id
              LEFT JOIN pupils p ON p.id = a.pupil_id LEFT JOIN provisions pr ON pr.id = a.provision_id
             WHERE a.status = 'open' AND a.notified_at IS NULL AND a.answer IS NULL
             ORDER BY s.urn, a.priority DESC, (a.numbers->>'evidence')::float8 DESC NULLS LAST, p.surname, p.forename, a.subject_key
            """).rows
        guard !rows.isEmpty else { return 0 }
        struct Item { let rule: String, who: String, reason: String }
        var bySchool: [(urn: String, name: String, items: [Item])] = []
        for row in rows {
            let urn: String = try row.decode("urn")
            let who: String
            if let surname = try row.decode("surname", as: String?.self) {
                let forename = try row.decode("forename", as: String?.self) ?? ""
                let year = try row.decode("year_group", as: String?.self).map { " (Year \($0))" } ?? ""
                who = "\(forename) \(surname)\(year), UPN \(try row.decode("upn", as: String.self))"
            } else {
                who = try row.decode("provision", as: String?.self) ?? "the school"
            }
            let item = Item(rule: try row.decode("rule"), who: who, reason: try row.decode("reason"))
            if bySchool.last?.urn == urn {
                bySchool[bySchool.count - 1].items.append(item)
            } else {
                bySchool.append((urn, try row.decode("school"), [item]))
            }
        }
        var queued = 0
        let now = Date()
        for school in bySchool {
            let sencos = config.school(urn: school.urn)?.sencos ?? []
            guard !sencos.isEmpty else { continue }
            let groups: [[String: Any]] = rules.compactMap { rule in
                let items = school.items.filter { $0.rule == rule.rule }
                guard !items.isEmpty else { return nil }
                return [
                    "title": rule.title, "next": rule.next, "count": items.count,
                    "items": items.map { ["who": $0.who, "reason": $0.reason] },
                ]
            }
            // Where the daemon writes this school's provision map and impact report (ProvisionReports).
            let reports = config.stateDirectory + "/reports/" + school.urn
            let context: [String: Any] = ["school": school.name, "count": school.items.count, "groups": groups, "reports": reports]
            let message = MailMessage(
                from: config.mail.from, to: sencos, subject: "SEND Provision: \(school.items.count) new alert(s) for \(school.name)",
                text: templates.render("senco-digest.txt", context), html: templates.render("senco-digest.html", context),
                messageID: "<digest-\(runID)-\(school.urn)@send-provision>", date: now)
            queued += try await enqueue(db, message)
        }
        if !config.trust.sendLead.isEmpty {
            let schools: [[String: Any]] = bySchool.map { school in
                let counts = rules.map { rule in school.items.filter { $0.rule == rule.rule }.count }
                let details = zip(rules, counts).filter { $0.1 > 0 }.map { "\($0.0.title.lowercased()) \($0.1)" }
                return [
                    "name": school.name, "total": school.items.count, "details": details.joined(separator: "; "),
                    "counts": counts.map { ["count": $0] },
                ]
            }
            // Programmes judged ineffective across the trust in this run, for the SEND lead.
            let programmes: [[String: Any]] = try await db.query(
                """
                SELECT name, n, round(effect, 2)::float8 AS effect, measure FROM provision_outcomes
                 WHERE evaluation_run_id = $1 AND provision_id IS NULL AND verdict = 'ineffective' ORDER BY name
                """, runID
            ).rows.map { row in
                let measure: String = try row.decode("measure")
                let effect = try row.decode("effect", as: Double?.self).map { String(format: "%.2f", $0) } ?? "?"
                return [
                    "name": try row.decode("name", as: String.self), "n": try row.decode("n", as: Int.self),
                    "effect": measure == "age_months" ? "mean ratio gain \(effect)" : "mean gain \(effect)",
                ]
            }
            let context: [String: Any] = [
                "trust": config.trust.name, "rules": rules.map { ["title": $0.title] }, "schools": schools,
                "programmes": programmes, "has_programmes": !programmes.isEmpty,
            ]
            let message = MailMessage(
                from: config.mail.from, to: config.trust.sendLead, subject: "SEND Provision: new alerts across \(config.trust.name)",
                text: templates.render("trust-digest.txt", context), html: templates.render("trust-digest.html", context),
                messageID: "<digest-\(runID)-trust@send-provision>", date: now)
            queued += try await enqueue(db, message)
        }
        let ids = try rows.map { String(try $0.decode("id", as: Int64.self)) }
        try await db.execute("UPDATE alerts SET notified_at = now() WHERE id = ANY($1::bigint[])", ids)
        return queued
    }

    static func enqueue(_ db: PostgresConnection, _ message: MailMessage) async throws -> Int {
        try await db.execute(
            """
            INSERT INTO mail_outbox (message_id, recipients, subject, message)
            VALUES ($1, $2::text[], $3, convert_to($4, 'UTF8')) ON CONFLICT (message_id) DO NOTHING
            """, message.messageID, message.to, message.subject, String(decoding: message.rfc5322(), as: UTF8.self))
    }
}
