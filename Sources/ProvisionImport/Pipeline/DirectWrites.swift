import Postgres
import ProvisionModel

/// New pupils, their needs and their results written by COPY straight into their tables while
/// a source's first import streams, instead of staged and merged after the stream.
///
/// A first import is nearly all new pupils and their results. Staged, each of them was
/// written three times (the staging table, a sorted copy joined to its pupil, the table) and
/// inserted only once the plugin had finished, with one core idle while the server merged.
/// Written directly, the server inserts them while this process validates the lines that
/// follow.
///
/// A record is written directly only where the merge would have inserted it as it stands, so
/// the stored rows are those the merge would give:
/// - a pupil whose UPN no stored pupil holds (a hash list of every stored UPN, read once; a
///   hash shared with another UPN only stages the record) and no earlier record of the run
///   named; its id is drawn from the pupils' sequence ahead;
/// - a result of such a pupil, not dated before their birth, whose key no earlier record of
///   the run had. (Should a later line of the pupil change the date of birth, the results
///   already written are not checked again, as a stored pupil's results are not when a
///   later run changes theirs; the pupil's results after that line are staged and checked.)
///
/// Everything else is staged and merged as before. A later record repeating the key of one
/// written directly is staged, so the merge updates the row with it and the last line still
/// wins; it is counted as a repeat (``repeats``), and the merge counts its update. Another
/// import adding one of these UPNs meanwhile fails this run at the unique index, and its retry
/// merges the pupil, as with the merge's plain insert of new pupils.
///
/// Only runs without a list of stored rows (``StoredRecords``: a source whose recent runs
/// carried no pupils or results) and not console edits write directly, and only once they
/// have staged enough pupils and results (``threshold``) for listing every stored UPN to pay.
struct DirectWrites {
    /// Pupils and results a run stages before it starts writing directly, at least. Past
    /// it, a run also stages as many as a quarter of the pupils stored: listing a stored UPN
    /// costs about a seventeenth of what writing a record directly saves (0.4 against 6.8 µs),
    /// so a school's small import into a large deployment keeps staging.
    static let threshold = 5_000
    /// The most stored UPNs listed (a hash table of 2^21 eight-byte buckets, 16 MiB): a run
    /// of a larger deployment stages everything.
    static let storedUPNLimit = 1_500_000
    /// The most pupils and result keys a run remembers as written directly; past them, it
    /// stages the rest. The pupils' table holds 2^19 buckets of 48 bytes (24 MiB), the
    /// keys' 2^21 of 8 (16 MiB): with the staged keys (``StagedKeys``) the supervisor stays
    /// within its 200 MiB.
    static let pupilLimit = 300_000
    static let resultKeyLimit = 1_500_000
    /// Rows sent in one go: each batch ends the staging COPY, copies into the three tables
    /// (their statement triggers run once per batch) and reopens it.
    static let batchRows = 20_000
    /// Pupil ids drawn from the sequence at a time.
    static let idBlock = 10_000

    static let copyPupils = """
        COPY pupils (id, upn, school_id, \(PupilFields.columns.joined(separator: ", ")), on_roll, import_run_id) FROM STDIN
        """
    static let copyNeeds = "COPY pupil_needs (pupil_id, code, rank, import_run_id) FROM STDIN"
    static let copyResults = """
        COPY assessments (pupil_id, school_id, instrument, subject, measure, value, assessed_on, import_run_id) FROM STDIN
        """

    /// Rows encoded in COPY text format, ready for ``copy(_:into:reopening:)``.
    struct Rows: Sendable {
        var pupils: [UInt8] = []
        var needs: [UInt8] = []
        var results: [UInt8] = []
        var count = 0
    }

    private struct Pupil {
        /// The pupil's id, as COPY writes it.
        let id: String
        let dob: String
        /// A later record of this pupil was staged: their later results are staged too, for
        /// the merge to check against the last record.
        var repeated = false
    }

    private let runID: String
    /// `current_date` of the import's transaction, as YYYY-MM-DD.
    private let today: String
    private let schoolIDs: [String: String]
    private let book: PostgresConnection
    private let threshold: Int
    /// Hashes of the UPNs stored when the run started writing directly; nil until then.
    private var storedUPNs: Set<Int>?
    private var pupils: [String: Pupil] = [:]
    private var resultKeys: Set<Int> = []
    private var ids: [Int64] = []
    private var nextID = 0
    private var moreIDs: Task<[Int64], any Error>?
    private(set) var rows = Rows()
    /// Records written directly, by type.
    private(set) var written: [String: Int] = [:]
    /// Needs written with the pupils written directly.
    private var needsWritten = 0
    /// Rows inserted, by table.
    var inserted: [String: Int] {
        ["pupils": written["pupil", default: 0], "pupil_needs": needsWritten, "assessments": written["assessment", default: 0]]
            .filter { $0.value > 0 }
    }
    /// Records staged because they repeat the key of one written directly.
    private(set) var repeats = 0
    /// Set when there were too many stored UPNs to list: the rest of the run is staged.
    private var off = false

    /// `schoolIDs` maps the bound schools' URNs to their ids; `book` is a connection outside
    /// the import's transaction (stored UPNs and sequence values need no transaction).
    init(runID: Int64, today: String, schoolIDs: [String: Int64], book: PostgresConnection, threshold: Int = Self.threshold) {
        self.threshold = threshold
        self.runID = String(runID)
        self.today = today
        self.schoolIDs = schoolIDs.mapValues { String($0) }
        self.book = book
    }

    /// Writes `record` (with its key hash, ``StoredRecords/key(_:)``) into ``rows`` when the
    /// rules above allow; returns false when it must be staged. `stagedKeys` are the keys of
    /// the pupils and results the run has staged so far.
    mutating func take(_ record: ValidRecord, key: Int?, stagedKeys: StagedKeys) async throws -> Bool {
        guard let key, let upn = record.result?.upn ?? record.pupil?.upn else { return false }
        // A repeat of a key written directly is staged whatever else holds, and counted once
        // (the merge counts any further repeats among the staged).
        switch record.type {
        case "pupil" where pupils[upn] != nil:
            if pupils[upn]?.repeated == false { repeats += 1 }
            pupils[upn]?.repeated = true
            return false
        case "assessment" where resultKeys.contains(key):
            resultKeys.remove(key)
            repeats += 1
            return false
        default:
            break
        }
        guard !off, stagedKeys.count >= threshold || storedUPNs != nil, stagedKeys.knowsEveryKey, !stagedKeys.contains(key),
              let school = schoolIDs[record.schoolURN]
        else { return false }
        switch record.type {
        case "pupil":
            guard let pupil = record.pupil, pupils.count < Self.pupilLimit, try await isNew(upn), let id = try await nextPupilID()
            else { return false }
            let idText = String(id)
            pupils[upn] = Pupil(id: idText, dob: pupil.dob)
            appendPupil(pupil, id: idText, school: school)
        case "assessment":
            guard let pupil = pupils[upn], !pupil.repeated, resultKeys.count < Self.resultKeyLimit,
                  let result = record.result, result.date >= pupil.dob
            else { return false }
            resultKeys.insert(key)
            appendResult(result, pupil: pupil.id, school: school)
        default:
            return false
        }
        written[record.type, default: 0] += 1
        rows.count += 1
        return true
    }

    /// The rows written since the last call, leaving ``rows`` empty.
    mutating func takeRows() -> Rows {
        defer { rows = Rows() }
        return rows
    }

    /// Ends the open staging COPY on `db`, copies `rows` into their tables (pupils first, as
    /// their needs and results refer to them) and opens the staging COPY `reopening` again.
    static func copy(_ rows: Rows, into db: isolated PostgresConnection, reopening staging: String) throws {
        guard rows.count > 0 else { return }
        _ = try db.finishCopy()
        for (sql, bytes) in [(copyPupils, rows.pupils), (copyNeeds, rows.needs), (copyResults, rows.results)] where !bytes.isEmpty {
            try db.startCopy(sql)
            try db.copyEncodedRows(bytes)
            _ = try db.finishCopy()
        }
        try db.startCopy(staging)
    }

    /// Whether no stored pupil holds `upn` (as far as the hashes tell); lists them first, in
    /// one read that stops one past the limit.
    private mutating func isNew(_ upn: String) async throws -> Bool {
        if storedUPNs == nil {
            var hashes = Set<Int>()
            let listed = try await book.copyOut("COPY (SELECT upn FROM pupils LIMIT \(Self.storedUPNLimit + 1)) TO STDOUT") { line in
                hashes.insert(Self.hash(UnsafeRawBufferPointer(line)))
            }
            guard listed <= Self.storedUPNLimit else {
                off = true
                return false
            }
            storedUPNs = hashes
        }
        var upn = upn
        return upn.withUTF8 { storedUPNs?.contains(Self.hash(UnsafeRawBufferPointer($0))) == false }
    }

    private static func hash(_ bytes: UnsafeRawBufferPointer) -> Int {
        var hasher = Hasher()
        hasher.combine(bytes: bytes)
        return hasher.finalize()
    }

    /// The next id of the pupils' sequence drawn ahead; the next block is drawn while half
    /// of this one is left.
    private mutating func nextPupilID() async throws -> Int64? {
        if nextID == ids.count {
            ids = try await (moreIDs ?? Self.drawIDs(book)).value
            nextID = 0
            moreIDs = nil
            guard !ids.isEmpty else { return nil }
        }
        if moreIDs == nil, nextID >= ids.count / 2 { moreIDs = Self.drawIDs(book) }
        defer { nextID += 1 }
        return ids[nextID]
    }

    /// One text of ids, not a row each: ten thousand rows kept the server sending for 0.1 s.
    /// The sequence is found once per block (`OFFSET 0` keeps its lookup out of the per-row
    /// expression): looked up for every id, a block took the server 26 ms, now 4 ms, and a
    /// million-record first import drew 25 blocks on a server that is its bottleneck.
    private static func drawIDs(_ book: PostgresConnection) -> Task<[Int64], any Error> {
        Task {
            let ids = try await book.query(
                """
                SELECT string_agg(nextval(s.seq)::text, ',') AS ids
                  FROM (SELECT pg_get_serial_sequence('pupils', 'id')::regclass AS seq OFFSET 0) s, generate_series(1, $1)
                """, idBlock
            ).scalar(as: String.self)
            return ids.split(separator: ",").compactMap { Int64($0) }
        }
    }

    /// As the merge's insert writes a new pupil: no SEN provision is `N`, and the pupil is
    /// on roll unless their leaving date has passed.
    private mutating func appendPupil(_ pupil: PupilFields, id pupilID: String, school: String) {
        CopyText.appendField(pupilID, to: &rows.pupils, first: true)
        CopyText.appendField(pupil.upn, to: &rows.pupils)
        CopyText.appendField(school, to: &rows.pupils)
        pupil.forEachStoredValue { CopyText.appendField($0, to: &rows.pupils) }
        CopyText.appendField(pupil.isOnRoll(today: today) ? "t" : "f", to: &rows.pupils)
        CopyText.appendField(runID, to: &rows.pupils)
        CopyText.endRow(&rows.pupils)
        for need in pupil.needs ?? [] {
            CopyText.appendField(pupilID, to: &rows.needs, first: true)
            CopyText.appendField(need.code, to: &rows.needs)
            CopyText.appendField(String(need.rank), to: &rows.needs)
            CopyText.appendField(runID, to: &rows.needs)
            CopyText.endRow(&rows.needs)
            needsWritten += 1
        }
    }

    private mutating func appendResult(_ result: ResultFields, pupil: String, school: String) {
        CopyText.appendField(pupil, to: &rows.results, first: true)
        CopyText.appendField(school, to: &rows.results)
        CopyText.appendField(result.instrument, to: &rows.results)
        CopyText.appendField(result.subject, to: &rows.results)
        CopyText.appendField(result.measure, to: &rows.results)
        CopyText.appendField(result.valueText, to: &rows.results)
        CopyText.appendField(result.date, to: &rows.results)
        CopyText.appendField(runID, to: &rows.results)
        CopyText.endRow(&rows.results)
    }
}
