import ArgumentParser
import Foundation
import Postgres
import ProvisionAlerts
import ProvisionApp
import ProvisionModel

struct AlertsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alerts",
        abstract: "List alerts raised by evaluations, and answer them.",
        subcommands: [List.self, Acknowledge.self, Snooze.self, Dismiss.self])
    @OptionGroup var options: ConfigOption

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List open alerts (or all with --all), most urgent first.",
            discussion: """
                --json prints one JSON array; each alert has id, rule, status (open, resolved,
                dismissed), answer (acknowledged, snoozed or null), snoozed_until, school_urn,
                upn or provision_id (whichever it is about), priority, evidence (its strength,
                for ranking), opened_at, resolved_at, reason, numbers and actions (every answer:
                action, by, at, note, until). Field names are stable for scripts and monitoring.
                """)
        @OptionGroup var options: ConfigOption
        @Option(help: "Only this school (URN).")
        var school: String?
        @Flag(help: "Include resolved and dismissed alerts.")
        var all = false
        @Flag(help: "Print JSON.")
        var json = false

        func run() async throws {
            try await reportingErrors {
                let config = try options.load()
                try await withConnection(config, applicationName: "provisionctl", migrated: true) { _, db in
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
                        """, school, all)
                    let history = try await AlertAnswers.history(db, alerts: try rows.rows.map { try $0.decode("id", as: Int64.self) })
                    if json {
                        print(try Self.json(rows.rows, history: history))
                    } else {
                        print("\(rows.rows.count) \(all ? "" : "open ")alert(s)")
                        for row in rows.rows {
                            let id: Int64 = try row.decode("id")
                            let who = try row.decode("upn", as: String?.self).map { "pupil \($0)" }
                                ?? (try row.decode("provision_id", as: String?.self)).map { "provision \($0)" } ?? ""
                            var state = try row.decode("status", as: String.self)
                            if let answer = try row.decode("answer", as: String?.self) { state += ", \(answer)" }
                            if let until = try row.decode("snoozed_until", as: String?.self) { state += " until \(until)" }
                            print("  #\(id) [\(try row.decode("school_urn", as: String.self))] \(try row.decode("rule", as: String.self)) \(who) (\(state) since \(try row.decode("opened_at", as: String.self)))")
                            print("      \(EscapedText.escaped(try row.decode("reason", as: String.self)))")
                            for action in history[id] ?? [] {
                                let until = action.until.map { " until \($0.iso)" } ?? ""
                                print("      \(ISO8601DateFormatter().string(from: action.at)) \(action.action)\(until) by \(action.by): \(EscapedText.escaped(action.note ?? ""))")
                            }
                        }
                    }
                }
            }
        }

        /// One JSON array with stable field names.
        static func json(_ rows: [PostgresRow], history: [Int64: [AlertAnswers.Action]]) throws -> String {
            func text(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
            var items: [JSONValue] = []
            for row in rows {
                let id: Int64 = try row.decode("id")
                var fields: [String: JSONValue] = [
                    "id": .number(Double(id)), "rule": .string(try row.decode("rule")), "status": .string(try row.decode("status")),
                    "answer": text(try row.decode("answer")), "snoozed_until": text(try row.decode("snoozed_until")),
                    "school_urn": .string(try row.decode("school_urn")), "priority": .number(Double(try row.decode("priority", as: Int.self))),
                    "evidence": try row.decode("evidence", as: Double?.self).map(JSONValue.number) ?? .null,
                    "opened_at": .string(try row.decode("opened_at")), "resolved_at": text(try row.decode("resolved_at")),
                    "reason": .string(try row.decode("reason")),
                    "numbers": try JSONValue.parse(Array(try row.decode("numbers", as: String.self).utf8)),
                    "actions": .array((history[id] ?? []).map { action in
                        .object([
                            "action": .string(action.action), "by": .string(action.by), "note": text(action.note),
                            "until": text(action.until?.iso), "at": .string(ISO8601DateFormatter().string(from: action.at)),
                        ])
                    }),
                ]
                if let upn = try row.decode("upn", as: String?.self) { fields["upn"] = .string(upn) }
                if let provision = try row.decode("provision_id", as: String?.self) { fields["provision_id"] = .string(provision) }
                items.append(.object(fields))
            }
            return JSONValue.array(items).serialized
        }
    }

    /// What answering an alert takes: which alert, who, and why.
    struct Answering: ParsableArguments {
        @Argument(help: "The alert's id (shown by `alerts list`).")
        var id: Int64
        @Option(help: "What is being done, or why (kept with the alert).")
        var note: String
        @Option(help: "The email address of the person answering.")
        var by: String
    }

    static func answer(_ options: ConfigOption, _ answering: Answering, _ answer: AlertAnswers.Answer, until: String? = nil) async throws {
        try await reportingErrors {
            let config = try options.load()
            var date: SchoolDate?
            if let until {
                guard let parsed = SchoolDate(iso: until) else { throw UsageProblem("--until must be a date YYYY-MM-DD, got '\(until)'") }
                date = parsed
            }
            try await withConnection(config, applicationName: "provisionctl", migrated: true) { _, db in
                do {
                    try await AlertAnswers.record(db, alert: answering.id, answer: answer, by: answering.by, note: answering.note, until: date)
                } catch let refusal as AlertAnswers.Refusal {
                    throw UsageProblem(refusal.description)
                }
            }
            print("Alert \(answering.id) \(answer.rawValue)\(until.map { " until \($0)" } ?? "").")
        }
    }

    struct Acknowledge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Seen, and being acted on: the alert stays open and is not mailed again.")
        @OptionGroup var options: ConfigOption
        @OptionGroup var answering: Answering
        func run() async throws { try await AlertsCommand.answer(options, answering, .acknowledged) }
    }

    struct Snooze: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set the alert aside until a date; if it still holds then, it comes back and is mailed again.")
        @OptionGroup var options: ConfigOption
        @OptionGroup var answering: Answering
        @Option(help: "The date it comes back (YYYY-MM-DD), such as the day after half term.")
        var until: String
        func run() async throws { try await AlertsCommand.answer(options, answering, .snoozed, until: until) }
    }

    struct Dismiss: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Not a concern: the alert closes, and reopens (as a new alert) only if its figures get worse.")
        @OptionGroup var options: ConfigOption
        @OptionGroup var answering: Answering
        func run() async throws { try await AlertsCommand.answer(options, answering, .dismissed) }
    }
}
