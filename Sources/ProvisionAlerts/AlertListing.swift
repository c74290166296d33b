import Foundation
import Postgres
import ProvisionModel

/// One alert as people read it (`provisionctl alerts list`, the console): what it is about,
/// where it stands, and every answer given to it.
public struct AlertListing: Sendable, Equatable {
    /// The alert's id, by which it is answered.
    public var id: Int64
    /// The rule that raised it (`stalled_pupil`, …).
    public var rule: String
    /// `open`, `resolved` or `dismissed`.
    public var status: String
    /// `acknowledged` or `snoozed` while open and answered.
    public var answer: String?
    /// The end of a snooze, `YYYY-MM-DD`.
    public var snoozedUntil: String?
    /// The school's URN.
    public var schoolURN: String
    /// The pupil it is about, for pupil rules.
    public var upn: String?
    /// The provision it is about, for provision rules.
    public var provisionID: String?
    /// Higher is more urgent.
    public var priority: Int
    /// The strength of the evidence, for ranking within a rule.
    public var evidence: Double?
    /// When it opened and (if it did) resolved, ISO 8601 UTC.
    public var openedAt: String
    /// When it resolved, ISO 8601 UTC.
    public var resolvedAt: String?
    /// The evaluation's sentence about it.
    public var reason: String
    /// The figures behind it, as the evaluation stored them.
    public var numbers: JSONValue
    /// Every answer given, oldest first.
    public var actions: [AlertAnswers.Action]

    /// The alerts of `school` (every school when nil), open ones only unless
    /// `includeClosed`, most urgent first.
    public static func read(_ db: PostgresConnection, school: String?, includeClosed: Bool) async throws -> [AlertListing] {
        let rows = try await db.query(
            """
            SELECT a.id, a.rule, a.status, a.answer, a.snoozed_until::text AS snoozed_until, s.urn AS school_urn,
                   p.upn, pr.provision_id, a.priority, a.evidence,
                   to_char(a.opened_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS opened_at,
                   to_char(a.resolved_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS resolved_at,
                   a.reason, a.numbers::text AS numbers
              FROM alerts a JOIN schools s ON s.id = a.school_id
              LEFT JOIN pupils p ON p.id = a.pupil_id LEFT JOIN provisions pr ON pr.id = a.provision_id
             WHERE ($1::text IS NULL OR s.urn = $1) AND ($2 OR a.status = 'open')
             ORDER BY a.status, a.priority DESC, a.rule, a.evidence DESC NULLS LAST, s.urn, a.subject_key
            """, school, includeClosed)
        let history = try await AlertAnswers.history(db, alerts: try rows.rows.map { try $0.decode("id", as: Int64.self) })
        return try rows.rows.map { row in
            let id: Int64 = try row.decode("id")
            return AlertListing(
                id: id, rule: try row.decode("rule"), status: try row.decode("status"), answer: try row.decode("answer"),
                snoozedUntil: try row.decode("snoozed_until"), schoolURN: try row.decode("school_urn"), upn: try row.decode("upn"),
                provisionID: try row.decode("provision_id"), priority: try row.decode("priority"), evidence: try row.decode("evidence"),
                openedAt: try row.decode("opened_at"), resolvedAt: try row.decode("resolved_at"), reason: try row.decode("reason"),
                numbers: try JSONValue.parse(Array(try row.decode("numbers", as: String.self).utf8)),
                actions: history[id] ?? [])
        }
    }
}
