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
    /// How many pupil rows the server sent for the list: ``pupilIDs`` holds one per row unless
    /// a row could not be read, or two UPNs shared a hash.
    private var pupilRowsListed = 0
    /// Whether the results were not listed because the source's last run vouches for its
    /// remembered lines' results (``StoredResultsVouch``): each such line's result is then
    /// taken as stored when the line is met (``skipsRemembered(_:_:index:keyStaged:)``).
    var resultsVouched: Bool { vouchedTaken != nil }
    /// With the results vouched for, one bit per remembered line: set once its result was
    /// taken as stored. A line met twice is a repeat of its key; so is a later record staged
    /// with that key (``countVouchedRepeats(of:staged:)``).
    private var vouchedTaken: [UInt64]?
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
    ///
    /// With `vouched`, the source's last run vouches for the results of its remembered lines
    /// (``StoredResultsVouch``; `lines` of them, `results` results): they are not read when
    /// those are most of the results the schools are expected to hold.
    static func load(
        _ db: PostgresConnection, alongside helper: PostgresConnection, schools urns: [String],
        kinds: Kinds = [.pupils, .results], vouched: (lines: Int, results: Int)? = nil, limit: Int = entryLimit, today: String,
        hashing: RecordHashing
    ) async throws -> StoredRecords {
        var stored = StoredRecords(today: today, hashing: hashing)
        // The schools' pupils counted first, so the results' read can start on `helper` with
        // the room the pupils leave it while `db` reads the pupils. COPY takes no parameters:
        // the schools are given by their ids, numbers read from the database. The tables'
        // sizes are the planner's estimates, or counted before their first analysis (-1).
        let counts = try await db.query(
            """
            SELECT (SELECT count(*) FROM pupils p JOIN schools b ON b.id = p.school_id WHERE b.urn = ANY($1::text[])) AS school_pupils,
                   (SELECT string_agg(id::text, ', ' ORDER BY id) FROM schools WHERE urn = ANY($1::text[])) AS school_ids,
                   (SELECT CASE WHEN reltuples >= 0 THEN reltuples::float8 ELSE (SELECT count(*) FROM pupils) END
                      FROM pg_class WHERE oid = 'pupils'::regclass) AS pupils,
                   (SELECT CASE WHEN reltuples >= 0 THEN reltuples::float8 ELSE (SELECT count(*) FROM results) END
                      FROM pg_class WHERE oid = 'results'::regclass) AS results
            """, urns
        ).singleRow()
        let schoolPupils = try counts?.decode("school_pupils", as: Int.self) ?? 0
        let schoolIDs = try counts?.decode("school_ids", as: String?.self) ?? nil
        let allPupils = try counts?.decode("pupils", as: Double.self) ?? 0
        let allResults = try counts?.decode("results", as: Double.self) ?? 0
        let mostPupils = Double(schoolPupils) > 0.25 * allPupils
        // Pupils whose `marked_left_at` is set would be changed by any record (the upsert
        // clears it), so they are not listed; their results are. Their needs are read apart,
        // before them, as one row a need in order of pupil: joined and aggregated per pupil in
        // the server they took 0.35 s of a 250,000-pupil school's 0.65 s list, and the
        // temporary table of the pupils that join read took 0.3 s more. Of most of the
        // pupils, one join; of a few schools of a large deployment, each pupil's needs through
        // the key (OFFSET 0 keeps the lookup per pupil), as for the results below.
        let theirNeeds = mostPupils
            ? "JOIN pupil_needs pn ON pn.pupil_id = p.id"
            : "CROSS JOIN LATERAL (SELECT n.code, n.rank FROM pupil_needs n WHERE n.pupil_id = p.id OFFSET 0) pn"
        // Those of pupils marked as left too: `marked_left_at` has no statistics, and the
        // planner, taking it for rarely null, looked up each of 250,000 pupils' needs by key
        // (0.19 s against 0.10 s).
        let needs = """
            COPY (SELECT p.id, pn.code || ':' || pn.rank FROM pupils p \(theirNeeds)
                   WHERE p.school_id IN (\(schoolIDs ?? "NULL"))
                   ORDER BY p.id, pn.code COLLATE "C", pn.rank) TO STDOUT
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

        var readingResults: Task<[Int: Int], any Error>?
        // A stored result the remembered lines do not name is staged if a record names it (its
        // merge changes nothing), which costs about two and a half times what listing it
        // does: the list is left unread only when the lines name three quarters of the
        // results expected or more.
        if kinds.contains(.results), let vouched, Double(vouched.results) >= 0.75 * expectedResults {
            stored.vouchedTaken = Array(repeating: 0, count: (vouched.lines + 63) / 64)
        } else if kinds.contains(.results), resultLimit > 0 {
            // The schools' pupils' results. A few schools of a large deployment: each pupil's
            // results through the unique index (OFFSET 0 keeps the lookup per pupil). As a join
            // the planner scanned every result of the deployment for one school's: 600 sources
            // of a million-pupil deployment were re-imported in 1,034 s, three times their first
            // import. Most of the pupils: one scan, which is then cheaper (0.3 s for 750,000
            // results). COPY takes no parameters: the schools are given by their ids, numbers
            // read from the database.
            let theirResults = mostPupils
                ? "JOIN results a ON a.pupil_id = p.id"
                : """
                CROSS JOIN LATERAL (SELECT r.test_id, r.assessed_on, r.value, r.school_id
                                      FROM results r WHERE r.pupil_id = p.id OFFSET 0) a
                """
            // The results are found first and their schools' URNs and tests' names joined after
            // (OFFSET 0): left to itself, the planner of a 200-school deployment joined each
            // pupil's dozen results to every school, 5,000 times for one school's pupils
            // (182 ms; 74 ms so).
            let results = """
                COPY (SELECT found.upn, t.instrument, t.subject, t.measure, found.assessed_on, found.value, sc.urn
                        FROM (SELECT p.upn, a.test_id, a.assessed_on, a.value, a.school_id
                                FROM pupils p \(theirResults)
                               WHERE p.school_id IN (\(schoolIDs ?? "NULL")) OFFSET 0) found
                        JOIN schools sc ON sc.id = found.school_id JOIN result_tests t ON t.id = found.test_id
                       LIMIT \(resultLimit)) TO STDOUT
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
            if readPupils {
                try await stored.listPupils(db, schoolIDs: schoolIDs ?? "NULL", needs: needs, room: pupilRoom)
            }
        } catch {
            // The helper's read is the caller's connection: it ends before the error is told.
            _ = try? await readingResults?.value
            throw error
        }
        if let readingResults { stored.resultContents = try await readingResults.value }
        return stored
    }

    /// Lists the stored pupils of the schools `schoolIDs` (numbers read from the database,
    /// comma-separated) not marked as left, with the hashes of their needs read by `needs`
    /// (a COPY of each need's pupil id and `code:rank`, in order of pupil and then as a
    /// record's needs are sorted), unless there are more than `room`: then none is listed.
    private mutating func listPupils(_ db: PostgresConnection, schoolIDs: String, needs query: String, room: Int) async throws {
        let needsByID = try await Self.readNeeds(db, query, hashing)
        // One row past the room tells that the schools gained pupils since they were counted.
        let pupils = """
            COPY (SELECT p.upn, b.urn, \(Self.pupilColumns("p")), p.on_roll, p.id
                    FROM pupils p JOIN schools b ON b.id = p.school_id
                   WHERE p.school_id IN (\(schoolIDs)) AND p.marked_left_at IS NULL
                   LIMIT \(room + 1)) TO STDOUT
            """
        var contents: [Int: Int] = [:]
        var ids: [Int: Int64] = [:]
        var needsByKey: [Int: Int] = [:]
        contents.reserveCapacity(room)
        ids.reserveCapacity(room)
        needsByKey.reserveCapacity(needsByID.count)
        let hashing = hashing
        let listed = try await db.copyOut(pupils) { line in
            guard let row = hashing.hashRow(line, columns: 18), let id = row.id else { return }
            contents[row.key] = row.content
            ids[row.key] = id
            if let hash = needsByID[id] { needsByKey[row.key] = hash }
        }
        // More than the room: the bound holds by listing none.
        guard listed <= room else { return }
        (pupilContents, pupilIDs, needs) = (contents, ids, needsByKey)
        pupilRowsListed = listed
        listsPupils = true
    }

    /// A row id as COPY writes it: digits only, nil for anything else (or one too large).
    static func id(_ text: UnsafeBufferPointer<UInt8>) -> Int64? {
        guard !text.isEmpty else { return nil }
        var value: Int64 = 0
        for byte in text {
            guard (0x30...0x39).contains(byte) else { return nil }
            let (tens, overflowed) = value.multipliedReportingOverflow(by: 10)
            let (next, overflowedAgain) = tens.addingReportingOverflow(Int64(byte - 0x30))
            guard !overflowed, !overflowedAgain else { return nil }
            value = next
        }
        return value
    }

    /// The hashes of the needs `sql` reads, by pupil id (few pupils have any).
    private static func readNeeds(_ db: PostgresConnection, _ sql: String, _ hashing: RecordHashing) async throws -> [Int64: Int] {
        var byID: [Int64: Int] = [:]
        var current: Int64?
        var text: [UInt8] = []
        _ = try await db.copyOut(sql) { line in
            guard let tab = line.firstIndex(of: 0x09), let id = id(UnsafeBufferPointer(rebasing: line[..<tab])) else { return }
            if id == current {
                text.append(UInt8(ascii: ","))
            } else {
                if let current { byID[current] = text.withUnsafeBufferPointer { hashing.needsHash($0) } }
                current = id
                text.removeAll(keepingCapacity: true)
            }
            text.append(contentsOf: UnsafeBufferPointer(rebasing: line[(tab + 1)...]))
        }
        if let current { byID[current] = text.withUnsafeBufferPointer { hashing.needsHash($0) } }
        return byID
    }

    /// How the merge's leaver rule tells the pupils whose record a run did not stage because
    /// it was stored as it is: a snapshot counts them as listed.
    enum SkippedPupils: Sendable {
        /// The temporary table `skipped_pupil (id)` holds them (none without a list of stored
        /// pupils).
        case inTable
        /// Every pupil listed at the run's start (at a bound school, not marked as left) but
        /// those in the temporary table `unmatched_pupil (id)`: the schools' data has not
        /// changed since (the run holds their rows' locks), and a pupil the run changed itself
        /// was staged.
        case allListedBut

        /// Whether the pupil `p` was skipped, as SQL.
        var condition: String {
            switch self {
            case .inTable: "EXISTS (SELECT 1 FROM skipped_pupil k WHERE k.id = p.id)"
            // `NOT IN` an uncorrelated list, hashed once: inside an `OR` (the leaver rule
            // negates this), `NOT EXISTS` was run again for each of a school's pupils, 0.4–0.5 s
            // of a million-record re-import's 2.0–2.5 s.
            case .allListedBut: "(p.marked_left_at IS NULL AND p.id NOT IN (SELECT u.id FROM unmatched_pupil u))"
            }
        }
    }

    /// Tells the merge which pupils this run skipped (``SkippedPupils``). `listedUnchanged`:
    /// the bound schools' data has not changed since the run listed their pupils, and cannot
    /// until it commits.
    ///
    /// Most of a snapshot's pupils are skipped. With the schools unchanged, only the listed
    /// pupils no record matched (usually a few) are sent: the leaver rule then reads no list of
    /// 250,000 ids (0.13–0.25 s of an unchanged re-import, and 0.07 s copying them in).
    /// Otherwise, or when a listed row is missing from ``pupilIDs`` (it would count as
    /// skipped and escape the leaver rule), the skipped pupils are copied in as numbers, one
    /// a line.
    static func recordSkippedPupils(
        _ stored: StoredRecords?, _ db: PostgresConnection, listedUnchanged: Bool
    ) async throws -> SkippedPupils {
        guard let stored, stored.listsPupils else {
            try await db.execute("CREATE TEMP TABLE skipped_pupil (id bigint NOT NULL) ON COMMIT DROP")
            return .inTable
        }
        let unmatchedOnly = listedUnchanged && stored.pupilIDs.count == stored.pupilRowsListed
        let (table, skipped): (String, SkippedPupils) = unmatchedOnly ? ("unmatched_pupil", .allListedBut) : ("skipped_pupil", .inTable)
        try await db.execute("CREATE TEMP TABLE \(table) (id bigint NOT NULL) ON COMMIT DROP")
        var lines: [UInt8] = []
        lines.reserveCapacity(unmatchedOnly ? 64 : stored.pupilIDs.count * 8)
        for (key, id) in stored.pupilIDs where ((stored.pupilContents[key] ?? 0) & 1 == 1) != unmatchedOnly {
            CopyText.appendField(String(id), to: &lines, first: true)
            CopyText.endRow(&lines)
        }
        try await db.startCopy("COPY \(table) (id) FROM STDIN")
        try await db.copyEncodedRows(lines)
        _ = try await db.finishCopy()
        if unmatchedOnly { try await db.execute("ANALYZE unmatched_pupil") }
        return skipped
    }

    /// A record's hashes: of its natural key, of what the merge would write from it, and of
    /// its needs when it lists them.
    struct Digest: Sendable {
        let key: Int
        let content: Int
        let needs: Int?
    }

    /// Whether the record of the remembered line at `index`, of `type` with `digest`, is
    /// already stored exactly as the merge would write it; if so it is counted as skipped and
    /// must not be staged. `keyStaged`: a record of its key may have been staged earlier in
    /// the run.
    ///
    /// With the results vouched for, a remembered result is stored as its line says, unless a
    /// record of its key was staged before it: that one is stored by the merge, and this line
    /// must follow it. (The vouching run repeated no key, so two remembered lines never share
    /// one.)
    mutating func skipsRemembered(_ type: String, _ digest: Digest, index: Int, keyStaged: Bool) -> Bool {
        guard type == "assessment", vouchedTaken != nil, !keyStaged else { return skips(type, digest) }
        let (word, bit) = (index >> 6, UInt64(1) << UInt64(index & 63))
        // Changed in place through the optional: no copy of the table.
        if (vouchedTaken?[word] ?? 0) & bit != 0 { duplicates += 1 }
        vouchedTaken?[word] |= bit
        skippedResults += 1
        return true
    }

    /// Counts as repeats the results taken as vouched for whose key a record staged after
    /// them also had (the merge lets that one win, as a list's marks would have told): the
    /// run then cannot vouch for its lines.
    mutating func countVouchedRepeats(of remembered: RememberedLines, staged: StagedKeys) {
        guard let taken = vouchedTaken, staged.count > 0 else { return }
        guard staged.knowsEveryKey else {
            duplicates += 1
            return
        }
        for (word, bits) in taken.enumerated() where bits != 0 {
            for bit in 0..<64 where bits & (1 << UInt64(bit)) != 0 {
                if staged.contains(remembered.record(at: word * 64 + bit).digest.key) { duplicates += 1 }
            }
        }
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
