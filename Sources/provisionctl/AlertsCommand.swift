import ArgumentParser
import Foundation
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
                    let alerts = try await AlertListing.read(db, school: school, includeClosed: all)
                    if json {
                        print(Self.json(alerts))
                    } else {
                        print("\(alerts.count) \(all ? "" : "open ")alert(s)")
                        for alert in alerts {
                            let who = alert.upn.map { "pupil \($0)" } ?? alert.provisionID.map { "provision \($0)" } ?? ""
                            var state = alert.status
                            if let answer = alert.answer { state += ", \(answer)" }
                            if let until = alert.snoozedUntil { state += " until \(until)" }
                            print("  #\(alert.id) [\(alert.schoolURN)] \(alert.rule) \(who) (\(state) since \(alert.openedAt))")
                            print("      \(EscapedText.escaped(alert.reason))")
                            for action in alert.actions {
                                let until = action.until.map { " until \($0.iso)" } ?? ""
                                print("      \(ISO8601DateFormatter().string(from: action.at)) \(action.action)\(until) by \(action.by): \(EscapedText.escaped(action.note ?? ""))")
                            }
                        }
                    }
                }
            }
        }

        /// One JSON array with stable field names.
        static func json(_ alerts: [AlertListing]) -> String {
            func text(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
            return JSONValue.array(alerts.map { alert in
                var fields: [String: JSONValue] = [
                    "id": .number(Double(alert.id)), "rule": .string(alert.rule), "status": .string(alert.status),
                    "answer": text(alert.answer), "snoozed_until": text(alert.snoozedUntil), "school_urn": .string(alert.schoolURN),
                    "priority": .number(Double(alert.priority)), "evidence": alert.evidence.map(JSONValue.number) ?? .null,
                    "opened_at": .string(alert.openedAt), "resolved_at": text(alert.resolvedAt), "reason": .string(alert.reason),
                    "numbers": alert.numbers,
                    "actions": .array(alert.actions.map { action in
                        .object([
                            "action": .string(action.action), "by": .string(action.by), "note": text(action.note),
                            "until": text(action.until?.iso), "at": .string(ISO8601DateFormatter().string(from: action.at)),
                        ])
                    }),
                ]
                if let upn = alert.upn { fields["upn"] = .string(upn) }
                if let provision = alert.provisionID { fields["provision_id"] = .string(provision) }
                return .object(fields)
            }).serialized
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
