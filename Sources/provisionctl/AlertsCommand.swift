import ArgumentParser
import Foundation
import Postgres
import ProvisionApp

struct AlertsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alerts",
        abstract: "List alerts raised by evaluations.",
        subcommands: [List.self])
    @OptionGroup var options: ConfigOption

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List open alerts (or all with --all), most urgent first.",
            discussion: """
                --json prints one JSON array; each alert has rule, status, school_urn, upn or
                provision_id (whichever it is about), priority, opened_at, resolved_at,
                reason and numbers. Field names are stable for scripts and monitoring.
                """)
        @OptionGroup var options: ConfigOption
        @Option(help: "Only this school (URN).")
        var school: String?
        @Flag(help: "Include resolved alerts.")
        var all = false
        @Flag(help: "Print JSON.")
        var json = false

        func run() async throws {
            try await reportingErrors {
                let config = try options.load()
                try await withConnection(config, applicationName: "provisionctl", migrated: true) { _, db in
                    let rows = try await db.query(
                        """
                        SELECT a.rule, a.status, s.urn AS school_urn, p.upn, pr.provision_id, a.priority,
                               to_char(a.opened_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS opened_at,
                               to_char(a.resolved_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS resolved_at,
                               a.reason, a.numbers::text AS numbers
                          FROM alerts a JOIN schools s ON s.id = a.school_id
                          LEFT JOIN pupils p ON p.id = a.pupil_id LEFT JOIN provisions pr ON pr.id = a.provision_id
                         WHERE ($1::text IS NULL OR s.urn = $1) AND ($2 OR a.status = 'open')
                         ORDER BY a.status, a.priority DESC, a.rule, (a.numbers->>'evidence')::float8 DESC NULLS LAST, s.urn, a.subject_key
                        """, school, all)
                    if json {
                        print(try Self.json(rows.rows))
                    } else {
                        print("\(rows.rows.count) \(all ? "" : "open ")alert(s)")
                        for row in rows.rows {
                            let who = try row.decode("upn", as: String?.self).map { "pupil \($0)" }
                                ?? (try row.decode("provision_id", as: String?.self)).map { "provision \($0)" } ?? ""
                            print("  [\(try row.decode("school_urn", as: String.self))] \(try row.decode("rule", as: String.self)) \(who) (\(try row.decode("status", as: String.self)) since \(try row.decode("opened_at", as: String.self)))")
                            print("      \(try row.decode("reason", as: String.self))")
                        }
                    }
                }
            }
        }

        /// One JSON array with stable field names.
        static func json(_ rows: [PostgresRow]) throws -> String {
            func quote(_ text: String?) -> String {
                guard let text else { return "null" }
                let data = try? JSONSerialization.data(withJSONObject: [text], options: [])
                let array = data.map { String(decoding: $0, as: UTF8.self) } ?? "[\"\"]"
                return String(array.dropFirst().dropLast())
            }
            var items: [String] = []
            for row in rows {
                var fields = [
                    "\"rule\":\(quote(try row.decode("rule")))", "\"status\":\(quote(try row.decode("status")))",
                    "\"school_urn\":\(quote(try row.decode("school_urn")))",
                ]
                if let upn = try row.decode("upn", as: String?.self) { fields.append("\"upn\":\(quote(upn))") }
                if let provision = try row.decode("provision_id", as: String?.self) { fields.append("\"provision_id\":\(quote(provision))") }
                fields += [
                    "\"priority\":\(try row.decode("priority", as: Int.self))",
                    "\"opened_at\":\(quote(try row.decode("opened_at")))",
                    "\"resolved_at\":\(quote(try row.decode("resolved_at", as: String?.self)))",
                    "\"reason\":\(quote(try row.decode("reason")))", "\"numbers\":\(try row.decode("numbers", as: String.self))",
                ]
                items.append("{" + fields.joined(separator: ",") + "}")
            }
            return "[" + items.joined(separator: ",\n") + "]"
        }
    }
}
