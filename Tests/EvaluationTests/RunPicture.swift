import Postgres

/// Everything evaluation run `run` says about the schools it covers, one sorted line per row
/// of its outcomes and flags, without the ids that differ between runs: two runs with the
/// same picture said the same.
func runPicture(_ db: PostgresConnection, run: Int64) async throws -> [String] {
    var lines: [String] = []
    for table in ["enrolment_outcomes", "provision_outcomes", "evaluation_flags"] {
        lines += try await db.query(
            "SELECT to_jsonb(t) - 'id' - 'evaluation_run_id' AS line FROM \(table) t WHERE evaluation_run_id = $1", run
        ).rows.map { "\(table) " + (try $0.decode("line", as: String.self)) }
    }
    return lines.sorted()
}
