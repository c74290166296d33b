import Postgres
import ProvisionAlerts
import ProvisionConfig
import ProvisionEvaluation
import ProvisionModel

/// Evaluates and updates the alerts in one transaction: what every caller (the daemon,
/// `evaluate`, `import`) runs, so alerts always follow a committed evaluation.
public func evaluateAndAlert(
    _ db: PostgresConnection, config: Configuration, school: String? = nil, asOf: SchoolDate
) async throws -> (EvaluationSummary, AlertChanges) {
    var changes = AlertChanges()
    let summary = try await Evaluator(settings: config.evaluation).run(db, school: school, asOf: asOf) { db, runID in
        changes = try await AlertLifecycle.apply(db, runID: runID)
    }
    return (summary, changes)
}
