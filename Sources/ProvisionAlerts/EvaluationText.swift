import ProvisionEvaluation
import ProvisionModel

/// An evaluation summary as printed for a person: counts only, no pupil data.
public enum EvaluationText {
    /// The line printed instead of an evaluation of `scope` that would only repeat `run`
    /// (``Evaluator/upToDateRun(_:school:asOf:)``).
    public static func upToDate(run: Int64, scope: String) -> String {
        "Evaluation of \(scope): not run again; evaluation run \(run) already saw this data, today, under these settings."
    }

    /// The lines `provisionctl evaluate` prints for one evaluation of `scope`: counts only, no
    /// pupil; with `steps`, how long each step of the evaluation took.
    public static func render(_ summary: EvaluationSummary, alerts: AlertChanges, scope: String, steps: Bool = false) -> String {
        let seconds = summary.duration.seconds
        var lines = ["Evaluation run \(summary.runID) of \(scope) in \(String(format: "%.1f", seconds)) s:"]
        lines.append("  schools: \(summary.schoolsEvaluated) evaluated, \(summary.schoolsUnchanged) unchanged since their last evaluation (results carried over)")
        lines.append("  enrolments with an outcome measure: \(summary.enrolments), with entry and exit: \(summary.withEntryAndExit)")
        let verdicts = ["effective", "inconclusive", "ineffective", "insufficient_data"].map { "\($0) \(summary.verdicts[$0] ?? 0)" }
        lines.append("  provisions: " + verdicts.joined(separator: ", "))
        lines.append("  flags: " + Codes.alertRules.map { "\($0) \(summary.flags[$0] ?? 0)" }.joined(separator: ", "))
        lines.append("  pupils the stall rule cannot judge yet (fewer than two results before the term): \(summary.stallNotJudged)")
        lines.append("  alerts: \(alerts.opened) opened, \(alerts.kept) still open, \(alerts.resolved) resolved; \(alerts.messagesQueued) digest message(s) queued")
        if steps {
            let timed = summary.steps.map { "\($0.name) \(String(format: "%.2f", $0.duration.seconds)) s" }
            lines.append("  steps: " + timed.joined(separator: ", "))
        }
        return lines.joined(separator: "\n")
    }
}
