import Foundation
import Postgres
import ProvisionImport
import ProvisionJobs
import ProvisionModel

/// Turns a SENCO's edit of the provision map into protocol records and imports them as the
/// `console` source (``ImportPipeline/runConsoleEdit(_:school:)``): the same validation and
/// merge as a MIS export, so the console cannot write what an import could not. A change
/// to an existing provision or enrolment starts from its whole current row (read as the
/// record an importer would send), so fields the form does not show are kept.
struct ProvisionEditor {
    let console: Console
    let school: String

    /// The provision as a protocol record; nil when it does not exist.
    func currentProvision(_ provisionID: String) async throws -> [String: JSONValue]? {
        try await record(
            """
            SELECT jsonb_strip_nulls(jsonb_build_object(
                     'type', 'provision', 'school_urn', s.urn, 'provision_id', pr.provision_id, 'name', pr.name,
                     'area_of_need', pr.area_of_need, 'wave', pr.wave, 'priority', pr.priority, 'statutory', pr.statutory,
                     'delivery', pr.delivery, 'group_size', pr.group_size, 'sessions_per_week', pr.sessions_per_week,
                     'minutes_per_session', pr.minutes_per_session, 'start_date', pr.start_date, 'end_date', pr.end_date,
                     'hourly_cost', pr.hourly_cost, 'resource_cost', pr.resource_cost, 'funding_stream', pr.funding_stream,
                     'outcome', CASE WHEN pr.outcome_instrument IS NOT NULL THEN jsonb_build_object(
                         'instrument', pr.outcome_instrument, 'subject', pr.outcome_subject, 'measure', pr.outcome_measure,
                         'target_gain', pr.outcome_target_gain) END))::text AS record
              FROM provisions pr JOIN schools s ON s.id = pr.school_id WHERE s.urn = $1 AND pr.provision_id = $2
            """, school, provisionID)
    }

    /// The pupil's latest enrolment in the provision as a protocol record; nil when none.
    func currentEnrolment(_ provisionID: String, upn: String) async throws -> [String: JSONValue]? {
        try await record(
            """
            SELECT jsonb_strip_nulls(jsonb_build_object(
                     'type', 'enrolment', 'school_urn', s.urn, 'provision_id', pr.provision_id, 'upn', p.upn,
                     'start_date', e.start_date, 'end_date', e.end_date, 'status', e.status, 'target', e.target,
                     'entry', CASE WHEN e.entry_value IS NOT NULL THEN jsonb_build_object('value', e.entry_value, 'date', e.entry_date) END,
                     'exit', CASE WHEN e.exit_value IS NOT NULL THEN jsonb_build_object('value', e.exit_value, 'date', e.exit_date) END,
                     'parent_informed', e.parent_informed))::text AS record
              FROM enrolments e JOIN provisions pr ON pr.id = e.provision_id JOIN schools s ON s.id = pr.school_id
              JOIN pupils p ON p.id = e.pupil_id
             WHERE s.urn = $1 AND pr.provision_id = $2 AND p.upn = $3
             ORDER BY e.start_date DESC LIMIT 1
            """, school, provisionID, upn)
    }

    private func record(_ sql: String, _ parameters: any PostgresEncodable...) async throws -> [String: JSONValue]? {
        let text = try await console.db { db in
            try await db.query(sql, parameters).singleRow().map { try $0.decode("record", as: String.self) }
        }
        guard let text, case .object(let fields) = try JSONValue.parse(Array(text.utf8)) else { return nil }
        return fields
    }

    /// Imports `records` as the SENCO's edit, with its `audit` entry in the same transaction,
    /// and queues the school's evaluation. Throws 422 with the import's reasons when
    /// validation refused them: nothing was written, the audit entry neither.
    func apply(_ records: [[String: JSONValue]], audit: @escaping @Sendable (isolated PostgresConnection) throws -> Void) async throws {
        let summary = try await console.pipeline.runConsoleEdit(
            records.map(JSONValue.object), school: (school, console.schoolName(school)), within: audit)
        guard summary.status == .succeeded else {
            guard summary.inputRejected else {
                // Not the SENCO's input: the database, or the audit entry, failed. The run keeps
                // the details for the IT staff; the log names the run only.
                console.logger.error("console edit failed", metadata: ["run": "\(summary.runID)"])
                throw ConsoleError(
                    .internalServerError,
                    "the change was not saved because of a problem on the server; nothing was written (import run \(summary.runID) has the details)")
            }
            let reasons = summary.firstReasons.map { reason in
                // "line 2: …" means nothing to a SENCO: the line is the record the form made.
                reason.replacingOccurrences(of: #"^line \d+: "#, with: "", options: .regularExpression)
            }
            throw ConsoleError(
                .unprocessableContent,
                "the change was not saved: " + (reasons.isEmpty ? summary.failure ?? "it was refused" : reasons.joined(separator: "; ")))
        }
        let attempts = console.configuration().daemon.maxAttempts
        _ = try await console.db { db in
            try await JobQueue().enqueue(
                db, kind: .evaluate, payload: ["school": school, "after_console_edit": "\(summary.runID)"],
                uniqueKey: JobKind.evaluationKey(school: school), maxAttempts: attempts)
        }
    }
}

/// Reading a form's fields as protocol values: the import's validation judges them, these
/// only carry them (a number that does not parse is sent as text and refused there, with
/// the import's message).
enum FieldValue {
    static func number(_ text: String?) -> JSONValue? {
        guard let text else { return nil }
        if let value = Double(text.replacingOccurrences(of: ",", with: "")), value.isFinite { return .number(value) }
        return .string(text)
    }

    static func text(_ text: String?) -> JSONValue? { text.map(JSONValue.string) }
}
