import Postgres

/// A source's last run vouching that every result its remembered lines (``RememberedLines``)
/// name is stored as the line says, so the next run need not list the stored results to find
/// that out (``StoredRecords``): most of a nightly re-import's reading of the database.
///
/// A run vouches, in its own transaction (table `source_stored_results`, migration 30), when:
/// - no natural key came twice among its records (a line a later one overrode is not stored
///   as it says), and the merge refused none of its results;
/// - nothing else changed the bound schools' data from its start, when it judged which
///   records were stored, to its commit: their data versions, read at its start, are the
///   same just before it merges, when it locks their rows until it commits.
///
/// It records the schools' data versions as it commits, and the stamp of the file its lines
/// are written to. The next run takes the results as vouched for when its file bears that
/// stamp and no school's data version has moved since: `schools.data_version` is raised in
/// the transaction of any change to the schools' rows, by an import, the console or an
/// administrator's SQL (migrations 11, 16 and 30). A run that cannot vouch forgets what the
/// one before it vouched, so its successor lists the results again.
struct StoredResultsVouch: Sendable {
    /// The bound schools' ids and data versions, as `id:version` in order of id.
    let versions: String

    /// The bound schools' data versions now, in `db`'s transaction.
    static func read(_ db: PostgresConnection, schools urns: [String]) async throws -> StoredResultsVouch {
        StoredResultsVouch(versions: try await versions(db, schools: urns, locking: false))
    }

    /// The schools' ids and data versions as `id:version` in order of id; `locking` their
    /// rows until the transaction ends, in that order.
    private static func versions(_ db: PostgresConnection, schools urns: [String], locking: Bool) async throws -> String {
        let row = try await db.query(
            """
            SELECT coalesce(string_agg(id || ':' || data_version, ',' ORDER BY id), '') AS versions
              FROM (SELECT id, data_version FROM schools WHERE urn = ANY($1::text[])
                     ORDER BY id\(locking ? " FOR NO KEY UPDATE" : "")) bound
            """, urns
        ).singleRow()
        return try row?.decode("versions", as: String.self) ?? ""
    }

    /// Whether `source`'s last run vouched for the results of the lines in the file stamped
    /// `stamp`, at the data versions these are.
    func isVouched(by source: String, stamp: UInt64, _ db: PostgresConnection) async throws -> Bool {
        let row = try await db.query(
            """
            SELECT stamp, (SELECT coalesce(string_agg(id || ':' || v, ',' ORDER BY id), '')
                             FROM unnest(school_ids, data_versions) AS u (id, v)) AS versions
              FROM source_stored_results WHERE source = $1
            """, source
        ).singleRow()
        guard let row else { return false }
        return try row.decode("stamp", as: Int64.self) == Int64(bitPattern: stamp)
            && row.decode("versions", as: String.self) == versions
    }

    /// Locks the bound schools' rows until the transaction ends (as the first change to their
    /// data would) and says whether their data versions are still these.
    func lockUnchanged(_ db: PostgresConnection, schools urns: [String]) async throws -> Bool {
        try await Self.versions(db, schools: urns, locking: true) == versions
    }

    /// Records that `source`'s run `runID` vouches for the lines of the file stamped `stamp`, at
    /// the bound schools' data versions now (after its own changes).
    static func vouch(
        for source: String, run runID: Int64, stamp: UInt64, schools urns: [String], _ db: PostgresConnection
    ) async throws {
        try await db.execute(
            """
            INSERT INTO source_stored_results (source, stamp, school_ids, data_versions, import_run_id)
            SELECT $1, $2, coalesce(array_agg(id ORDER BY id), '{}'), coalesce(array_agg(data_version ORDER BY id), '{}'), $3
              FROM schools WHERE urn = ANY($4::text[])
            ON CONFLICT (source) DO UPDATE
               SET stamp = EXCLUDED.stamp, school_ids = EXCLUDED.school_ids, data_versions = EXCLUDED.data_versions,
                   import_run_id = EXCLUDED.import_run_id, recorded_at = now()
            """, source, Int64(bitPattern: stamp), runID, urns)
    }

    /// Forgets what `source`'s last run vouched for.
    static func forget(_ source: String, _ db: PostgresConnection) async throws {
        try await db.execute("DELETE FROM source_stored_results WHERE source = $1", source)
    }
}
