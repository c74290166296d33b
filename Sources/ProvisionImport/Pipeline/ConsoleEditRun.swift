import Postgres
import ProvisionModel

extension ImportPipeline {
    /// The source name console edits are recorded under in `import_runs`.
    public static let consoleSource = "console"

    /// Imports `records` (protocol records without the header and end lines) as a SENCO's edit
    /// in the console: the same validation, staging and merge as a plugin's output, as a
    /// `delta` of the `console` source bound to `school`. The provisions and enrolments it
    /// writes are marked as edited in the console, so later imports do not overwrite them.
    ///
    /// `within` runs in the edit's transaction after the merge, before the commit: the
    /// console's audit entry, so an edit is never written without it.
    public func runConsoleEdit(
        _ records: [JSONValue], school: (urn: String, name: String),
        within: @escaping @Sendable (isolated PostgresConnection) throws -> Void = { _ in }
    ) async throws -> ImportSummary {
        var counts: [String: Int] = [:]
        for case .object(let fields) in records {
            if let type = fields["type"]?.stringValue { counts[type, default: 0] += 1 }
        }
        let header = JSONValue.object([
            "type": .string("header"), "protocol": .number(1), "plugin": .string(Self.consoleSource), "source_kind": .string("delta"),
        ])
        let end = JSONValue.object(["type": .string("end"), "counts": .object(counts.mapValues { .number(Double($0)) })])
        var request = ImportRequest(
            sourceName: Self.consoleSource, plugin: .console, path: "", schools: [school], maxRejected: 0, force: true)
        request.consoleLines = ([header] + records + [end]).map(\.serialized)
        request.consoleWithin = within
        return try await run(request)
    }
}

extension PluginManifest {
    /// Stands for the console in import runs; nothing is executed.
    static let console = PluginManifest(
        name: ImportPipeline.consoleSource, version: "1", protocolVersion: 1, description: "edits made in the console",
        executable: "", accepts: [], folder: "")
}
