import Foundation
import Postgres
import ProvisionModel

/// People's answers to alerts (DESIGN §7), the library API the command line and the console
/// call. Each answer is stored in `alert_actions` with who, when and the note, in the same
/// transaction as the change to the alert.
///
/// - **acknowledged**: "seen, we are acting". The alert stays open and is not mailed again.
/// - **snoozed** until a date: set aside; when an evaluation on or after that date still
///   raises it, it comes back and is mailed again.
/// - **dismissed**: "this is not a concern" (wave 1 is enough for this pupil, say). The alert
///   is closed while its figures do not get worse; if they do, a new alert opens saying so.
public enum AlertAnswers {
    /// What a SENCO can say to an alert.
    public enum Answer: String, Sendable, CaseIterable {
        case acknowledged, snoozed, dismissed
    }

    /// Why an answer could not be recorded; says what to do.
    public struct Refusal: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// One recorded action on an alert.
    public struct Action: Sendable, Equatable {
        /// The answer given (`acknowledge`, `snooze`, `dismiss`, …).
        public let action: String
        /// Who gave it, as they named themselves.
        public let by: String
        /// Their note, if any.
        public let note: String?
        /// The end of a snooze.
        public let until: SchoolDate?
        /// When it was given.
        public let at: Date
    }

    /// Records `answer` to alert `id` by `by` (an email address) with `note`.
    ///
    /// - Parameter until: the snooze date (required for `.snoozed`, after `today`).
    /// - Parameter within: more work for the same transaction (the console's audit entry).
    /// - Throws: ``Refusal`` when there is no such alert, it is no longer open, or the
    ///   arguments are wrong; database errors as they are.
    public static func record(
        _ db: PostgresConnection, alert id: Int64, answer: Answer, by: String, note: String, until: SchoolDate? = nil,
        today: SchoolDate = SchoolDate.today(), within: @Sendable (isolated PostgresConnection) throws -> Void = { _ in }
    ) async throws {
        let by = by.trimmingCharacters(in: .whitespaces)
        guard by.contains("@"), by.count <= 200, !by.contains(where: \.isNewline) else {
            throw Refusal(description: "--by must be the email address of the person answering, got '\(by.prefix(60))'")
        }
        let note = note.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !note.isEmpty, note.count <= 2000 else {
            throw Refusal(description: "a note (1–2,000 characters) is required: say what is being done, or why")
        }
        if let problem = HiddenCharacters.problem(in: note, lineBreaks: true) { throw Refusal(description: "the note \(problem)") }
        if answer == .snoozed {
            guard let until, until > today else {
                throw Refusal(description: "a snooze needs --until DATE after today (YYYY-MM-DD), such as the day after half term")
            }
        }
        try await db.transaction { db in
            guard let row = try db.query("SELECT status, evidence FROM alerts WHERE id = $1 FOR UPDATE", id).singleRow() else {
                throw Refusal(description: "there is no alert \(id); `provisionctl alerts list` shows each alert's id")
            }
            let status: String = try row.decode("status")
            guard status == "open" else {
                throw Refusal(description: "alert \(id) is \(status), not open: only open alerts can be answered")
            }
            switch answer {
            case .acknowledged:
                try db.execute(
                    "UPDATE alerts SET answer = 'acknowledged', snoozed_until = NULL, notified_at = coalesce(notified_at, now()) WHERE id = $1", id)
            case .snoozed:
                try db.execute(
                    "UPDATE alerts SET answer = 'snoozed', snoozed_until = $2::date, notified_at = coalesce(notified_at, now()) WHERE id = $1",
                    id, until?.iso)
            case .dismissed:
                try db.execute(
                    """
                    UPDATE alerts SET status = 'dismissed', answer = NULL, snoozed_until = NULL, dismissed_evidence = evidence,
                                      notified_at = coalesce(notified_at, now())
                     WHERE id = $1
                    """, id)
            }
            try db.execute(
                "INSERT INTO alert_actions (alert_id, action, by_whom, note, until) VALUES ($1, $2, $3, $4, $5::date)",
                id, answer.rawValue, by, note, answer == .snoozed ? until?.iso : nil)
            try within(db)
        }
    }

    /// Every action on the alerts `ids`, oldest first.
    public static func history(_ db: PostgresConnection, alerts ids: [Int64]) async throws -> [Int64: [Action]] {
        guard !ids.isEmpty else { return [:] }
        let rows = try await db.query(
            """
            SELECT alert_id, action, by_whom, note, until::text AS until, extract(epoch FROM at)::float8 AS at
              FROM alert_actions WHERE alert_id = ANY($1::bigint[]) ORDER BY alert_id, at, id
            """, ids.map(String.init))
        var history: [Int64: [Action]] = [:]
        for row in rows.rows {
            history[try row.decode("alert_id"), default: []].append(Action(
                action: try row.decode("action"), by: try row.decode("by_whom"), note: try row.decode("note"),
                until: try row.decode("until", as: String?.self).flatMap(SchoolDate.init(iso:)),
                at: Date(timeIntervalSince1970: try row.decode("at"))))
        }
        return history
    }
}
