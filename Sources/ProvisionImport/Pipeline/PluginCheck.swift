import Foundation

/// Runs a plugin exactly as the daemon would and validates its output, without any
/// database: how IT staff develop and test a plugin in any language.
public enum PluginCheck {
    /// What a check found.
    public struct Report: Sendable {
        /// How the plugin process ended; nil when it could not be started.
        public var outcome: PluginRunOutcome?
        /// The protocol violation that would fail an import, if any.
        public var protocolError: String?
        /// Why the plugin could not be started, if it could not.
        public var launchError: String?
        /// `snapshot` or `delta`, as the plugin's header said.
        public var sourceKind = "snapshot"
        /// Records the plugin sent, by type.
        public var sent: [String: Int] = [:]
        /// Records that passed validation, by type.
        public var accepted: [String: Int] = [:]
        public var rejections: [Rejection] = []
        /// Records rejected.
        public var rejectedCount = 0
        /// Records with a data-quality warning.
        public var warningCount = 0
        /// The rejected share an import would allow.
        public var maxRejected: Double

        /// Whether the daemon would merge this run.
        public var passes: Bool {
            guard launchError == nil, protocolError == nil, outcome?.succeeded == true else { return false }
            let total = sent.values.reduce(0, +)
            return total == 0 || Double(rejectedCount) / Double(total) <= maxRejected
        }
    }

    /// Runs `manifest` on `source` and reports what the supervisor would make of it.
    ///
    /// - Parameters:
    ///   - schools: the URNs to bind; empty accepts any well-formed URN.
    ///   - keep: how many rejections and warnings to keep for the report.
    public static func run(
        _ manifest: PluginManifest, source: String, schools: [String], environment: [String: String] = [:],
        limits: PluginLimits,
        maxRejected: Double = 0.02, keep: Int = 50
    ) async -> Report {
        var report = Report(maxRejected: maxRejected)
        var validator = RecordStreamValidator(
            pluginName: manifest.name, boundSchools: schools.isEmpty ? nil : Set(schools), today: .today())
        var kept: [Rejection] = []
        let scratch = NSTemporaryDirectory() + "provision-plugin-check"
        do {
            report.outcome = try await PluginRunner.run(
                manifest, source: source, schools: schools, extraEnvironment: environment, limits: limits,
                scratchRoot: scratch,
                onLine: { line, number in
                    switch try validator.consume(line, number: number) {
                    case .rejected(let rejection):
                        if kept.count < keep { kept.append(rejection) }
                    case .accepted(let record):
                        if let warning = record.warning, kept.count < keep {
                            kept.append(Rejection(line: number, type: record.type, severity: .warning, reason: warning, ref: nil))
                        }
                    default: break
                    }
                })
            if report.outcome?.succeeded == true {
                do { try validator.finish() } catch { report.protocolError = error.description }
            }
        } catch let violation as ProtocolViolation {
            report.protocolError = violation.description
        } catch let error as PluginOutputError {
            report.protocolError = error.description
        } catch {
            report.launchError = "\(error)"
        }
        report.sourceKind = validator.sourceKind
        report.sent = validator.sent
        report.accepted = validator.accepted
        report.rejectedCount = validator.rejectedCount
        report.warningCount = validator.warningCount
        report.rejections = kept
        return report
    }
}
