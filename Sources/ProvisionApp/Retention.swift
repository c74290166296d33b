import Postgres
import ProvisionAlerts
import ProvisionConfig
import ProvisionEvaluation
import ProvisionImport

/// What the product keeps of its own work, and for how long (`[retention]`,
/// docs/operations.md "What is kept, and for how long"): applied by the daemon after each
/// trust evaluation, by `provisiond --once`, and by `provisionctl db prune`.
public enum Retention {
    /// What one application deleted or erased.
    public struct Applied: Sendable, Equatable {
        /// Evaluation runs deleted, with their flags and outcomes.
        public var evaluation = EvaluationHistory.Pruned()
        /// Sent messages whose text was erased.
        public var mailTextsErased = 0
        /// Rejected records deleted from old import runs.
        public var rejectedRecordsDeleted = 0

        /// True when nothing was old enough.
        public var isEmpty: Bool { self == Applied() }

        /// One line for a person: what went.
        public var summary: String {
            "deleted \(evaluation.runs) evaluation run(s) (\(evaluation.flags) flag(s), \(evaluation.enrolmentOutcomes) "
                + "enrolment outcome(s)) and \(rejectedRecordsDeleted) rejected record(s) of old imports; erased the text of "
                + "\(mailTextsErased) sent message(s)"
        }
    }

    /// Applies `settings` on `db` (not in a transaction), kind after kind, each in its own
    /// statements: a failure keeps what was done before it, and the next application
    /// finishes the rest.
    public static func apply(_ db: PostgresConnection, _ settings: Configuration.Retention) async throws -> Applied {
        var applied = Applied()
        applied.evaluation = try await EvaluationHistory.prune(db, keepDays: settings.evaluationRunsDays)
        applied.mailTextsErased = try await SentMail.eraseText(db, olderThanDays: settings.sentMailDays)
        applied.rejectedRecordsDeleted = try await ImportRuns.pruneRejections(db, olderThanDays: settings.rejectedRecordsDays)
        return applied
    }
}
