import Postgres
import ProvisionConfig
import ProvisionEvaluation
import ProvisionModel

/// Evaluates, updates the alerts and queues the digests of new ones, in one transaction:
/// what every caller (the daemon, `evaluate`, `import`) runs, so alerts and their mail
/// always follow a committed evaluation and a message is never lost or written twice.
public func evaluateAndAlert(
    _ db: PostgresConnection, config: Configuration, school: String? = nil, asOf: SchoolDate, full: Bool = false,
    onStep: (@Sendable (String) -> Void)? = nil, openHelper: (@Sendable () async throws -> PostgresConnection)? = nil
) async throws -> (EvaluationSummary, AlertChanges) {
    var changes = AlertChanges()
    let templates = try await DigestTemplates.load(config)
    var evaluator = Evaluator(settings: config.evaluation)
    evaluator.onStep = onStep
    evaluator.openHelper = openHelper
    // Each rule's alerts as soon as its flags are in: most while the results are still read.
    let alerts = FlagFollowUp(name: "alerts") { db, runID, rules in
        changes.add(try await AlertLifecycle.apply(db, runID: runID, rules: rules))
    }
    let summary = try await evaluator.run(db, school: school, asOf: asOf, full: full, followUp: alerts) { db, runID in
        onStep?("mail")
        changes.messagesQueued = try await Digests.queue(db, runID: runID, config: config, templates: templates)
    }
    return (summary, changes)
}

/// The evaluation run that an evaluation of `school` (a URN) today would only repeat, if any
/// (``Evaluator/upToDateRun(_:school:asOf:)``): what follows an import asks this before
/// evaluating a school again.
public func upToDateEvaluation(
    _ db: PostgresConnection, config: Configuration, school: String, asOf: SchoolDate
) async throws -> Int64? {
    try await Evaluator(settings: config.evaluation).upToDateRun(db, school: school, asOf: asOf)
}
