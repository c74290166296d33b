import Postgres

/// Other connections reading exactly what the evaluation's transaction sees, so that its
/// passes over everyone's results can run beside the SQL steps, or on several connections.
enum SharedSnapshot {
    /// Begins a read-only transaction on `helper` on `snapshot` (`pg_export_snapshot()` of
    /// the evaluation's transaction). The caller ends it.
    static func join(_ helper: PostgresConnection, snapshot: String) async throws {
        // SET TRANSACTION SNAPSHOT takes no parameters; the id is the server's own
        // (hex digits and dashes), checked before it is written into the statement.
        guard !snapshot.isEmpty, snapshot.allSatisfy({ $0.isHexDigit || $0 == "-" }) else {
            throw EvaluationError("unexpected snapshot id '\(snapshot.prefix(40))'")
        }
        try await helper.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        do {
            try await helper.execute("SET TRANSACTION SNAPSHOT '\(snapshot)'")
        } catch {
            await helper.rollback()
            throw error
        }
    }
}
