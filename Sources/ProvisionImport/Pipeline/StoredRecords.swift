import Postgres
import ProvisionModel

/// The results and pupils the bound schools already hold, as hashes, so that a record the
/// merge would leave exactly as it is need not be staged or merged at all: most of a nightly
/// export, and most of the time of re-importing it.
///
/// Per stored row, one hash of its natural key and one of everything the merge would write
/// from a record (the key again, the school, the values; for a pupil, what the upsert
/// compares, with `on_roll` as the record would set it today, and the needs apart, since a
/// record without `needs` leaves them alone). Both sides are hashed in this process from
/// the same text: a number or date written differently only means the record is staged as
/// before and the merge finds it unchanged. Hashes are 64-bit SipHash values under the run's
/// key (``RecordHashing``): a changed record is taken for its stored row only if its 64-bit
/// hash equals that row's.
///
/// The last line of a key still wins: once a record of a key is staged, every later record
/// of that key is staged too (the merge keeps the last), and a record repeating a key whose
/// earlier record was not staged is counted as a duplicate here, since the merge never sees
/// the pair.
///
/// Rows are streamed by `COPY … TO STDOUT` in the import's transaction (so `current_date`
/// and what is stored are those the merge will see) and only their hashes kept: 16 to 32
/// bytes a row. The list is bounded (``entryLimit``), so the supervisor stays within its
/// 200 MiB: results past the bound are not listed (their records are staged and merged as if
/// the list did not know them, which only costs time), and pupils are listed all or none
/// (the leaver rule needs every one), so with more than the bound holds only results are.
struct StoredRecords {
    /// Key hash → content hash, its lowest bit set once a record matched it (and was not
    /// staged): pupils and results apart, since the two lists are read at the same time.
    private var pupilContents: [Int: Int] = [:]
    private var resultContents: [Int: Int] = [:]
    /// Pupil key hash → hash of the pupil's stored needs, for pupils with any (most have
    /// none: ``RecordHashing/noNeeds`` stands for theirs, and the table stays small).
    private var needs: [Int: Int] = [:]
    /// Pupil key hash → the pupil's id, for ``recordSkippedPupils(_:_:)``.
    private var pupilIDs: [Int: Int64] = [:]
    /// Whether the schools' stored pupils are listed (all of them), not only results.
    private(set) var listsPupils = false
    /// How many pupil rows the server sent for the list (to check ``pupilIDs`` against).
    private var pupilRowsSent = 0
    /// `current_date` of the import's transaction, as YYYY-MM-DD.
    let today: String
    /// How records and rows are hashed in this run.
    let hashing: RecordHashing
    /// Records not staged, by type.
    var skipped: [String: Int] {
        ["assessment": skippedResults, "pupil": skippedPupils].filter { $0.value > 0 }
    }
    private var skippedResults = 0
    private var skippedPupils = 0
    /// Records repeating the key of a record that was not staged.
    private(set) var duplicates = 0
    /// Stored rows listed.
    var rowCount: Int { pupilContents.count + resultContents.count }

    /// The most hash entries kept: one for a result, three for a pupil (its row, its needs,
    /// its id). Three million is at most about 96 MiB of hash tables (the supervisor peaked at
    /// 133 MiB re-importing two million records, 500,000 of them pupils, all listed).
    static let entryLimit = 3_000_000

    private init(today: String, hashing: RecordHashing) {
        self.today = today
        self.hashing = hashing
    }

    /// What a source's recent runs carried: reading stored rows pays only for a source that
    /// sends them again (a provision map sends no pupils or results; a first run has nothing
    /// of its own stored yet).
    struct Kinds: OptionSet, Sendable {
        let rawValue: Int
        static let pupils = Kinds(rawValue: 1)
        static let results = Kinds(rawValue: 2)
    }

    /// How many of a source's latest successful runs say which kinds to read.
    static let runsLookedAt = 5

    /// The kinds of records any of the latest ``runsLookedAt`` successful runs of `source` accepted.
    static func kinds(carriedBy source: String, _ db: PostgresConnection) async throws -> Kinds {
        let row = try await db.query(
            """
            SELECT coalesce(bool_or((counts->'accepted'->>'pupil')::bigint > 0), false) AS pupils,
                   coalesce(bool_or((counts->'accepted'->>'assessment')::bigint > 0), false) AS results
              FROM (SELECT counts FROM import_runs WHERE source = $1 AND status = 'succeeded'
                     ORDER BY id DESC LIMIT $2) recent
            """, source, runsLookedAt
        ).singleRow()
        var kinds: Kinds = []
        if try row?.decode("pupils", as: Bool.self) == true { kinds.insert(.pupils) }
        if try row?.decode("results", as: Bool.self) == true { kinds.insert(.results) }
        return kinds
    }

    /// The stored pupils and results of the schools `urns` (pupils at those schools now, and
    /// those pupils' results) of the `kinds` wanted, up to `limit` entries in all (a pupil
    /// counts three). Pupils are listed all or none (the leaver rule needs every one): when
    /// they alone would pass the bound, only results are. `today` is `current_date` of
    /// `db`'s transaction.
    ///
    /// The results are read on `helper` (idle, outside any transaction) while the pupils are
    /// read on `db`: two server processes, and this process hashing on both connections'
    /// threads (a 250,000-pupil school's list in 0.75–0.9 s instead of 1.1–1.25 s one after
    /// the other, with `psql` as the client). The two reads see the data as two statements
    /// of `db` would: a result listed or not only decides whether its record is staged.
    static func load(
        _ db: PostgresConnection, alongside helper: PostgresConnection, schools urns: [String],
        kinds: Kinds = [.pupils, .results], limit: Int = entryLimit, today: String, hashing: RecordHashing
    ) async throws -> StoredRecords {
        var stored = StoredRecords(today: today, hashing: hashing)
        // The schools' pupils counted first, so the results' read can start on `helper` while
        // `db` writes the table of pupils below (0.2–0.3 s for 250,000 of them, which the
        // results' read waited for). COPY takes no parameters: the schools are given by their
        // ids, numbers read from the database.
        let counts = try await db.query(
            """
            SELECT (SELECT count(*) FROM pupils p JOIN schools b ON b.id = p.school_id WHERE b.urn = ANY($1::text[])) AS school_pupils,
                   (SELECT string_agg(id::text, ', ' ORDER BY id) FROM schools WHERE urn = ANY($1::text[])) AS school_ids,
                   (SELECT reltuples::float8 FROM pg_class WHERE oid = 'pupils'::regclass) AS pupils,
                   (SELECT reltuples::float8 FROM pg_class WHERE oid = 'assessments'::regclass) AS results
            """, urns
        ).singleRow()
        let schoolPupils = try counts?.decode("school_pupils", as: Int.self) ?? 0
        let schoolIDs = try counts?.decode("school_ids", as: String?.self) ?? nil
        let allPupils = try counts?.decode("pupils", as: Double.self) ?? 0
        let allResults = try counts?.decode("results", as: Double.self) ?? 0
        let mostPupils = Double(schoolPupils) > 0.25 * allPupils
        // The needs of most of the pupils: aggregated once (looked up pupil by pupil, three
        // times slower). Of a few schools of a large deployment: pupil by pupil through the key,
        // since aggregating hashed every need of the deployment (36 ms per source at a million
        // pupils, 9 ms at 100,000).
        let needs = #"string_agg(pn.code || ':' || pn.rank, ',' ORDER BY pn.code COLLATE "C", pn.rank) AS needs"#
        let theirNeeds = mostPupils
            ? """
            LEFT JOIN (SELECT pn.pupil_id, \(needs) FROM pupil_needs pn JOIN stored_pupil q ON q.id = pn.pupil_id
                        GROUP BY pn.pupil_id) n ON n.pupil_id = sp.id
            """
            : "LEFT JOIN LATERAL (SELECT \(needs) FROM pupil_needs pn WHERE pn.pupil_id = sp.id) n ON true"
        let pupils = """
            COPY (SELECT sp.upn, sp.urn, \(pupilColumns("sp")), sp.on_roll, coalesce(n.needs, ''), sp.id
                    FROM stored_pupil sp \(theirNeeds)
                   WHERE sp.listed) TO STDOUT
            """
        // Room for the rows expected (the schools' share of the results, by the statistics),
        // so the hash tables are not rebuilt again and again as they grow.
        let expectedResults = allPupils > 0 ? Double(schoolPupils) * max(allResults, 0) / allPupils : 0
        // `schoolPupils` counts those not listed too: a bound it passes by a little lists no pupils.
        let readPupils = kinds.contains(.pupils) && 3 * schoolPupils <= limit
        let pupilRoom = readPupils ? schoolPupils : 0
        // What the bound leaves the results: the server stops there, rather than send rows to
        // be dropped.
        let resultLimit = limit - 3 * pupilRoom
        stored.pupilContents.reserveCapacity(pupilRoom)
        stored.needs.reserveCapacity(pupilRoom / 4)
        stored.pupilIDs.reserveCapacity(pupilRoom)

        var readingResults: Task<[Int: Int], any Error>?
        if kinds.contains(.results), resultLimit > 0 {
            // The schools' pupils' results. A few schools of a large deployment: each pupil's
            // results through the unique index (OFFSET 0 keeps the lookup per pupil). As a join
            // the planner scanned every result of the deployment for one school's: 600 sources
            // of a million-pupil deployment were re-imported in 1,034 s, three times their first
            // import. Most of the pupils: one scan, which is then cheaper (0.3 s for 750,000
            // results). COPY takes no parameters: the schools are given by their ids, numbers
            // read from the database.
            let theirResults = mostPupils
                ? "JOIN assessments a ON a.pupil_id = p.id"
                : """
                CROSS JOIN LATERAL (SELECT r.instrument, r.subject, r.measure, r.assessed_on, r.value, r.school_id
                                      FROM assessments r WHERE r.pupil_id = p.id OFFSET 0) a
                """
            // The results are found first and their schools' URNs joined after (OFFSET 0):
            // left to itself, the planner of a 200-school deployment joined each pupil's dozen
            // results to every school, 5,000 times for one school's pupils (182 ms; 74 ms so).
            let results = """
                COPY (SELECT found.upn, found.instrument, found.subject, found.measure, found.assessed_on, found.value, sc.urn
                        FROM (SELECT p.upn, a.instrument, a.subject, a.measure, a.assessed_on, a.value, a.school_id
                                FROM pupils p \(theirResults)
                               WHERE p.school_id IN (\(schoolIDs ?? "NULL")) OFFSET 0) found
                        JOIN schools sc ON sc.id = found.school_id LIMIT \(resultLimit)) TO STDOUT
                """
            let room = Int(min(expectedResults, Double(resultLimit)))
            readingResults = Task {
                try await helper.transaction { helper in
                    for setting in ImportPipeline.plannerSettings { try helper.execute(setting) }
                    var table: [Int: Int] = [:]
                    table.reserveCapacity(room)
                    _ = try helper.copyOut(results) { line in
                        if let row = hashing.hashRow(line, columns: 7) { table[row.key] = row.content }
                    }
                    return table
                }
            }
        }
        do {
            // Pupils whose `marked_left_at` is set would be changed by any record (the upsert
            // clears it), so they are not listed; their results are.
            let tabled = try await db.execute(
                """
                CREATE TEMP TABLE stored_pupil ON COMMIT DROP AS
                SELECT p.id, p.upn, b.urn, \(pupilColumns("p")), p.on_roll, p.marked_left_at IS NULL AS listed
                  FROM pupils p JOIN schools b ON b.id = p.school_id
                 WHERE b.urn = ANY($1::text[])
                """, urns)
            // More pupils than counted (another source of these schools committed between):
            // the bound holds by listing none.
            if readPupils && 3 * tabled + resultLimit <= limit {
                stored.listsPupils = true
                stored.pupilRowsSent = try await db.copyOut(pupils) { line in
                    guard let row = hashing.hashRow(line, columns: 19) else { return }
                    stored.pupilContents[row.key] = row.content
                    if let needs = row.needs { stored.needs[row.key] = needs }
                    if let id = row.id { stored.pupilIDs[row.key] = id }
                }
            }
        } catch {
            // The helper's read is the caller's connection: it ends before the error is told.
            _ = try? await readingResults?.value
            throw error
        }
        if let readingResults { stored.resultContents = try await readingResults.value }
        return stored
    }

    /// Creates `skipped_pupil (id)`: the pupils whose record this run did not stage because it
    /// was stored as it is (empty without a list of stored pupils). A snapshot's leaver rule
    /// counts them as listed.
    ///
    /// Most of a snapshot's pupils are skipped: the server is sent only those of the pupils it
    /// listed that no record matched, usually a few, rather than every skipped pupil (staging
    /// 250,000 of them as rows was a tenth of an unchanged re-import), and `skipped_pupil` is
    /// a view of the listed pupils less those: writing it out as a table of 250,000 ids took
    /// 53 ms of the same run. It goes with `stored_pupil` when the transaction ends.
    static func recordSkippedPupils(_ stored: StoredRecords?, _ db: PostgresConnection) async throws {
        guard let stored, stored.listsPupils else {
            try await db.execute("CREATE TEMP TABLE skipped_pupil (id bigint NOT NULL) ON COMMIT DROP")
            return
        }
        var unmatched: [String] = []
        for (key, id) in stored.pupilIDs where (stored.pupilContents[key] ?? 0) & 1 == 0 { unmatched.append(String(id)) }
        try await db.execute(
            """
            CREATE TEMP TABLE unmatched_pupil ON COMMIT DROP AS
            SELECT DISTINCT id FROM unnest($1::bigint[]) AS u (id)
            """, unmatched)
        try await db.execute(
            """
            CREATE TEMP VIEW skipped_pupil AS
            SELECT sp.id FROM stored_pupil sp
             WHERE sp.listed AND NOT EXISTS (SELECT 1 FROM unmatched_pupil u WHERE u.id = sp.id)
            """)
        // Each listed pupil was read into pupilIDs, so the two counts agree; were one missing,
        // it would count as skipped and escape the leaver rule: the run stops instead.
        guard stored.pupilRowsSent == stored.pupilIDs.count else {
            throw StoredPupilsMismatch(listed: stored.pupilRowsSent, read: stored.pupilIDs.count)
        }
    }

    /// A record's hashes: of its natural key, of what the merge would write from it, and of
    /// its needs when it lists them.
    struct Digest: Sendable {
        let key: Int
        let content: Int
        let needs: Int?
    }

    /// Whether the record of `type` with `digest` is already stored exactly as the merge
    /// would write it; if so it is counted as skipped and must not be staged.
    mutating func skips(_ type: String, _ digest: Digest) -> Bool {
        type == "assessment"
            ? Self.skips(digest, in: &resultContents, needs: nil, noNeeds: hashing.noNeeds, count: &skippedResults, duplicates: &duplicates)
            : Self.skips(digest, in: &pupilContents, needs: needs, noNeeds: hashing.noNeeds, count: &skippedPupils, duplicates: &duplicates)
    }

    private static func skips(
        _ digest: Digest, in contents: inout [Int: Int], needs: [Int: Int]?, noNeeds: Int, count: inout Int, duplicates: inout Int
    ) -> Bool {
        // Found once and then changed in place: a million records are looked up per run.
        guard let index = contents.index(forKey: digest.key) else { return false }
        let stored = contents.values[index]
        if stored & 1 == 1 { duplicates += 1 }
        guard digest.content == stored & ~1, digest.needs.map({ $0 == needs?[digest.key] ?? noNeeds }) ?? true else {
            // Staged: a later record of this key must be staged too, or this one would win.
            contents.remove(at: index)
            return false
        }
        contents.values[index] = digest.content | 1
        count += 1
        return true
    }

    /// The staged pupil columns, prefixed with `table`, in the order the digest hashes them.
    private static func pupilColumns(_ table: String) -> String {
        PupilFields.columns.map { "\(table).\($0)" }.joined(separator: ", ")
    }
}

/// The stored pupils listed at the start of a run and those read from that list differ:
/// the run stops rather than risk a pupil escaping the leaver rule.
struct StoredPupilsMismatch: Error, CustomStringConvertible {
    let listed: Int
    let read: Int
    var description: String {
        "internal error: \(listed) stored pupils were listed for this run but \(read) were read; nothing was imported (please report this)"
    }
}
