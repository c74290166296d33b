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
    /// stages the rest. The pupils' table holds 2^19 buckets of 32 bytes (16 MiB), the
    /// keys' 2^21 of 8 (16 MiB): with the staged keys (``StagedKeys``) the supervisor stays
    /// within its 200 MiB.
    static let pupilLimit = 300_000
    static let resultKeyLimit = 1_500_000
    /// Rows sent in one go: each batch ends the staging COPY, copies into the three tables
    /// (their statement triggers run once per batch) and reopens it.
    static let batchRows = 20_000
    /// Pupil ids drawn from the sequence at a time.
    static let idBlock = 10_000

    // In COPY's binary format (``CopyBinary``): the server, on the connection a first import
    // waits for, no longer parses these rows' dates and scores (`\copy`'d alone, the rows took
    // 9–35% less time than as text).
    static let copyPupils = """
        COPY pupils (id, upn, school_id, \(PupilFields.columns.joined(separator: ", ")), on_roll, import_run_id) FROM STDIN \
        WITH (FORMAT binary)
        """
    static let copyNeeds = "COPY pupil_needs (pupil_id, code, rank, import_run_id) FROM STDIN WITH (FORMAT binary)"
    static let copyResults = """
        COPY results (pupil_id, school_id, test_id, value, assessed_on, import_run_id) FROM STDIN \
        WITH (FORMAT binary)
        """

    /// How each of ``PupilFields/columns`` is written: its column's type.
    enum ColumnType {
        case text, date, boolean
    }
    static let pupilColumnTypes: [ColumnType] = PupilFields.columns.map { column in
        PupilFields.flags.contains(column) ? .boolean : PupilFields.dates.contains(column) ? .date : .text
    }

    /// Rows encoded in COPY binary format, each table's from its header on (empty when it has
    /// none), ready for ``copy(_:into:reopening:)``.
    struct Rows: Sendable {
        var pupils: [UInt8] = []
        var needs: [UInt8] = []
        var results: [UInt8] = []
        var count = 0

        /// Empties the rows, keeping the buffers for the next batch's.
        mutating func removeAll() {
            pupils.removeAll(keepingCapacity: true)
            needs.removeAll(keepingCapacity: true)
            results.removeAll(keepingCapacity: true)
            count = 0
        }
    }

    /// 16 bytes: the table of them is the largest thing a first import holds, and on a
    /// virtual machine each page of memory touched for the first time can cost 10–25 µs
    /// (with the id and date of birth as text, its growing was a twelfth of the supervisor's
    /// time, most of it the kernel clearing pages).
    private struct Pupil {
        let id: Int64
        /// The date of birth, in days since 1970-01-01.
        let born: Int32
        /// A later record of this pupil was staged: their later results are staged too, for
        /// the merge to check against the last record.
        var repeated = false
    }

    private let runID: Int64
    /// `current_date` of the import's transaction, as YYYY-MM-DD.
    private let today: String
    private let schoolIDs: [String: Int64]
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
        self.runID = runID
        self.today = today
        self.schoolIDs = schoolIDs
        self.book = book
    }

    /// Writes `record` (with its key hash, ``StoredRecords/key(_:)``) into ``rows`` when the
    /// rules above allow; returns false when it must be staged. `stagedKeys` are the keys of
    /// the pupils and results the run has staged so far; `testID` is a result's test's id
    /// (``ResultTests``).
    mutating func take(_ record: ValidRecord, key: Int?, testID: Int32?, stagedKeys: StagedKeys) async throws -> Bool {
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
            guard let pupil = record.pupil, let born = SchoolDate(iso: pupil.dob)?.daysSince1970, pupils.count < Self.pupilLimit,
                  try await isNew(upn), let id = try await nextPupilID(), appendPupil(pupil, id: id, born: born, school: school)
            else { return false }
            pupils[upn] = Pupil(id: id, born: Int32(born))
        case "assessment":
            guard let pupil = pupils[upn], !pupil.repeated, resultKeys.count < Self.resultKeyLimit, let result = record.result,
                  let testID, let day = SchoolDate(iso: result.date)?.daysSince1970, day >= pupil.born,
                  appendResult(result, test: testID, day: day, pupil: pupil.id, school: school)
            else { return false }
            resultKeys.insert(key)
        default:
            return false
        }
        written[record.type, default: 0] += 1
        rows.count += 1
        return true
    }

    /// Exchanges the rows written since the last call for `spare` (empty: the rows of a batch
    /// already sent, whose buffers are written again rather than allocated afresh).
    mutating func swapRows(with spare: inout Rows) { swap(&rows, &spare) }

    /// Ends the open staging COPY on `db`, copies `rows` into their tables (pupils first, as
    /// their needs and results refer to them) and opens the staging COPY `reopening` again.
    static func copy(_ rows: Rows, into db: isolated PostgresConnection, reopening staging: String) throws {
        guard rows.count > 0 else { return }
        _ = try db.finishCopy()
        for (sql, bytes) in [(copyPupils, rows.pupils), (copyNeeds, rows.needs), (copyResults, rows.results)] where !bytes.isEmpty {
            try db.startCopy(sql)
            try db.copyEncodedRows(bytes)
            try db.copyEncodedRows(CopyBinary.trailer)
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

    /// Starts a row of `fields` fields in one table's rows, after the stream's header when the
    /// buffer is empty: a row taken back to the length before the call takes the header too.
    private static func startRow(fields: Int, in rows: inout [UInt8]) {
        if rows.isEmpty { rows.append(contentsOf: CopyBinary.header) }
        CopyBinary.startRow(fields: fields, to: &rows)
    }

    /// Appends the pupil's row, and their needs', as the merge's insert writes a new pupil:
    /// no SEN provision is `N`, and the pupil is on roll unless their leaving date has passed.
    /// `born` is their date of birth, already read, in days since 1970-01-01. False, with
    /// nothing appended, when another date is not one (the validator's dates always are; a
    /// record that is not so is staged, for the merge to judge).
    private mutating func appendPupil(_ pupil: PupilFields, id: Int64, born: Int, school: Int64) -> Bool {
        let start = rows.pupils.count
        Self.startRow(fields: PupilFields.columns.count + 5, in: &rows.pupils)
        CopyBinary.appendInt64(id, to: &rows.pupils)
        CopyBinary.appendText(pupil.upn, to: &rows.pupils)
        CopyBinary.appendInt64(school, to: &rows.pupils)
        var written = true
        var column = 0
        pupil.forEachStoredValue { value in
            defer { column += 1 }
            switch (Self.pupilColumnTypes[column], value) {
            case (_, nil): CopyBinary.appendNull(to: &rows.pupils)
            case (.text, let text?): CopyBinary.appendText(text, to: &rows.pupils)
            case (.boolean, let flag?): CopyBinary.appendBool(flag == "t", to: &rows.pupils)
            case (.date, _?) where column == PupilFields.dob: CopyBinary.appendDate(daysSince1970: born, to: &rows.pupils)
            case (.date, let date?):
                guard let day = SchoolDate(iso: date)?.daysSince1970 else { return written = false }
                CopyBinary.appendDate(daysSince1970: day, to: &rows.pupils)
            }
        }
        guard written else {
            rows.pupils.removeSubrange(start...)
            return false
        }
        CopyBinary.appendBool(pupil.isOnRoll(today: today), to: &rows.pupils)
        CopyBinary.appendInt64(runID, to: &rows.pupils)
        for need in pupil.needs ?? [] {
            Self.startRow(fields: 4, in: &rows.needs)
            CopyBinary.appendInt64(id, to: &rows.needs)
            CopyBinary.appendText(need.code, to: &rows.needs)
            CopyBinary.appendInt32(Int32(need.rank), to: &rows.needs)
            CopyBinary.appendInt64(runID, to: &rows.needs)
            needsWritten += 1
        }
        return true
    }

    /// Appends the result's row (on test `test`, dated `day` days after 1970-01-01); false,
    /// with nothing appended, when its score cannot be written in binary (the validator's can,
    /// unless it has more digits than a double's; such a record is staged instead).
    private mutating func appendResult(_ result: ResultFields, test: Int32, day: Int, pupil: Int64, school: Int64) -> Bool {
        let start = rows.results.count
        Self.startRow(fields: 6, in: &rows.results)
        CopyBinary.appendInt64(pupil, to: &rows.results)
        CopyBinary.appendInt64(school, to: &rows.results)
        CopyBinary.appendInt32(test, to: &rows.results)
        guard CopyBinary.appendNumeric(result.valueText, to: &rows.results) else {
            rows.results.removeSubrange(start...)
            return false
        }
        CopyBinary.appendDate(daysSince1970: day, to: &rows.results)
        CopyBinary.appendInt64(runID, to: &rows.results)
        return true
    }
}
