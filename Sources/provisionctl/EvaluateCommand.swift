import ArgumentParser
import Foundation
import ProvisionAlerts
import ProvisionApp
import ProvisionEvaluation
import ProvisionModel

struct EvaluateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Evaluate progress and interventions now, for the trust or one school.",
        discussion: """
            Computes every enrolment's entry, exit and gain, each intervention's effect with
            its 95% interval and verdict, and the flags (stalled pupils, ineffective
            interventions, EHCP provision not delivered, missing exit data, need without
            provision, duplicated provision), and stores them as one evaluation run.
            Schools whose data, date and settings are unchanged since their last
            evaluation have its results carried over (--full evaluates them again).
            docs/evaluation.md explains every measure and threshold.
            """)

    @OptionGroup var options: ConfigOption
    @Option(help: "Evaluate only this school (URN).")
    var school: String?
    @Option(help: "Evaluate as of this date (YYYY-MM-DD); default today.")
    var asOf: String?
    @Flag(help: "Evaluate every school again, even those whose data, date and settings are unchanged since their last evaluation.")
    var full = false
    @Flag(help: "Also print how long each step of the evaluation took.")
    var timings = false
    @Flag(name: .shortAndLong, help: "No progress line, even at a terminal.")
    var quiet = false

    func validate() throws {
        if let asOf, SchoolDate(iso: asOf) == nil { throw ValidationError("--as-of must be a date YYYY-MM-DD") }
    }

    func run() async throws {
        try await reportingErrors {
            let config = try options.load()
            if let school, config.school(urn: school) == nil {
                throw UsageProblem("School \(school) is not declared in \(config.file).")
            }
            let day = asOf.flatMap(SchoolDate.init(iso:)) ?? SchoolDate.today()
            try await withConnection(config, applicationName: "provision-evaluate", migrated: true) { database, db in
                let terminal = TerminalProgress(quiet: quiet)
                let scope = school.map { "school \($0)" } ?? "the trust"
                let started = ContinuousClock.now
                var onStep: (@Sendable (String) -> Void)?
                if terminal.enabled {
                    onStep = { step in
                        let elapsed = (ContinuousClock.now - started).components.seconds
                        terminal.show("evaluating \(scope): \(step), \(elapsed) s so far", force: true)
                    }
                }
                let (summary, alerts) = try await evaluateAndAlert(
                    db, config: config, school: school, asOf: day, full: full, onStep: onStep,
                    openHelper: { try await database.connect(applicationName: "provision-evaluate-stalls") })
                terminal.finish()
                print(EvaluationText.render(summary, alerts: alerts, scope: school.map { "school \($0)" } ?? "the trust", steps: timings))
            }
        }
    }
}
