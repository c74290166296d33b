import Foundation
import Logging
import Postgres
import ProvisionConfig
import ProvisionModel
import ProvisionStore

/// One import to run: a source, the plugin that reads it, and the limits that apply.
public struct ImportRequest: Sendable {
    /// The source's name (`[[sources]].name`), recorded with the run.
    public var sourceName: String
    /// The plugin that reads it.
    public var plugin: PluginManifest
    /// The export's file or folder.
    public var path: String
    /// The schools the source is bound to, with their configured names.
    public var schools: [(urn: String, name: String)]
    /// The source's own environment for the plugin.
    public var environment: [String: String]
    /// Time, output and sandbox limits of the plugin run.
    public var limits: PluginLimits
    /// The share of records that may be rejected before the run is refused.
    public var maxRejected: Double
    /// The share of a school's pupils one snapshot may mark as left (`plugins.max_leavers`).
    public var maxLeavers: Double
    /// Re-run even when the input is unchanged since the last successful run, and allow a
    /// snapshot to mark more than `maxLeavers` of a school as left.
    public var force: Bool
    /// Protocol lines given directly instead of read from a plugin: the console's edits
    /// (``ConsoleEdits``), validated and merged exactly as a plugin's output would be, and
    /// marked as the SENCO's so that later imports do not overwrite them.
    var consoleLines: [String]?
    /// More work for a console edit's transaction, run after the merge and before the commit
    /// (the console's audit entry, so it stands or falls with the edit).
    var consoleWithin: (@Sendable (isolated PostgresConnection) throws -> Void)?

    /// A request with every setting given.
    public init(
        sourceName: String, plugin: PluginManifest, path: String, schools: [(urn: String, name: String)],
        environment: [String: String] = [:], limits: PluginLimits = PluginLimits(), maxRejected: Double = 0.02,
        maxLeavers: Double = 0.10, force: Bool = false
    ) {
        self.sourceName = sourceName
        self.plugin = plugin
        self.path = path
        self.schools = schools
        self.environment = environment
        self.limits = limits
        self.maxRejected = maxRejected
        self.maxLeavers = maxLeavers
        self.force = force
    }

    /// The request for a configured source.
    public init(source: Configuration.Source, config: Configuration, plugin: PluginManifest, force: Bool = false) {
        self.init(
            sourceName: source.name, plugin: plugin, path: source.path,
            schools: source.schools.map { urn in (urn, config.school(urn: urn)?.name ?? urn) },
            environment: source.environment,
            limits: PluginLimits(config.plugins, timeoutSeconds: source.timeoutSeconds),
            maxRejected: source.maxRejected, maxLeavers: config.plugins.maxLeavers, force: force)
    }
}

/// What an import run did.
public struct ImportSummary: Sendable {
    /// How a run ended.
    public enum Status: String, Sendable {
        case succeeded
        case failed
        /// The input was identical to the last successful run's; nothing was run.
        case unchanged
    }

    /// The `import_runs` row.
    public var runID: Int64
    /// How the run ended.
    public var status: Status
    /// Why the run failed, in words for the person running it.
    public var failure: String?
    /// True when the failure was the input's fault (rejections over the threshold, protocol
    /// errors from the plugin) rather than the plugin crashing or timing out.
    public var inputRejected = false
    /// True when the run did not start because another import of the source held it: the
    /// daemon tries again shortly rather than counting a failed attempt.
    public var sourceBusy = false
    /// `snapshot` or `delta`, as the plugin's header said.
    public var sourceKind = "snapshot"
    /// Records the plugin sent, by type.
    public var sent: [String: Int] = [:]
    /// Records that passed validation, by type.
    public var accepted: [String: Int] = [:]
    /// Records rejected.
    public var rejected = 0
    /// Records imported with a data-quality warning.
    public var warnings = 0
    public var firstReasons: [String] = []
    /// What the merge changed.
    public var merge = MergeStatistics()
    /// Lines taken as the last run's, byte for byte, without being read again
    /// (``RememberedLines``); their records are among `merge.alreadyStored`.
    public var rememberedLines = 0
    /// Whether the stored results were not listed because the source's last run vouched for
    /// them and nothing has changed them since (``StoredResultsVouch``).
    public var resultsVouched = false
    /// Whether this run vouches for its remembered lines' results, for the next run.
    public var vouchesForResults = false
    /// The start of the plugin's stderr, escaped.
    public var stderr = ""
    public var checksum: String?
    /// How long the run took.
    public var duration: Duration = .zero
}

/// The import pipeline of DESIGN §4, the same for the daemon and `provisionctl import`.
///
/// A run is all or nothing: valid records are streamed through COPY into a temporary
/// staging table inside one transaction (a source's first run writes most of its new pupils
/// and their results straight into their tables, ``DirectWrites``), merged by set-based
/// SQL, and committed only if the plugin exited 0 within its limits, its output kept the
/// protocol and the rejected share is within the threshold. Otherwise the transaction rolls
/// back and the data is exactly as it was. The run itself, its counts and rejected records are recorded on a second connection
/// so they survive a rollback.
public struct ImportPipeline: Sendable {
    /// The database runs are written to.
    public let database: ProvisionDatabase
    /// Where fresh scratch folders for plugins are made.
    public let scratchRoot: String
    /// Where runs are logged (counts and reasons, never a pupil).
    public var logger: Logger
    /// Told how far a run has got: every 10,000 records while reading, and when the merge
    /// starts. Called on the importing task; keep it quick.
    public var onProgress: (@Sendable (ImportProgress) -> Void)?
    /// The folder where each source's remembered lines are kept (``RememberedLines``), made
    /// when first needed; nil remembers none (``init(database:stateDirectory:logger:)`` sets
    /// `<state.dir>/remembered-lines`).
    public var memoryRoot: String?

    /// How an import's transactions are planned, set in each (`SET LOCAL`, so they end with
    /// it): the import's own and the one listing a school's stored results beside it.
    ///
    /// The merge sorts and hashes every record of the run, and a large school's stored rows
    /// are hashed to be listed: at the server's default `work_mem` of 4 MB they spilled to
    /// disk in up to 16 batches (0.7 s of a million-record import; docs/operations.md says
    /// what it asks of the server). A school's few thousand records are matched with a
    /// deployment's million pupils by index; at PostgreSQL's default cost of a random page
    /// (4, for spinning disks) the planner hashed the whole table instead, in several
    /// statements and triggers, so a source's import grew with the deployment. A database
    /// this size is read from memory or SSD, where 1.1 is the usual setting.
    static let plannerSettings = ["SET LOCAL work_mem = '128MB'", "SET LOCAL random_page_cost = 1.1"]

    /// How many rejected records are stored per run; the rest are counted.
    static let storedRejectionLimit = 1000
    /// The most hash entries a run's list of stored rows holds (``StoredRecords``); tests
    /// make it small.
    var storedEntryLimit = StoredRecords.entryLimit
    /// Whether a run takes the results its source's last run vouched for as stored, unlisted
    /// (``StoredResultsVouch``); tests turn it off to exercise the list.
    var takesVouchedResults = true
    /// Pupils and results a first run stages at least before it writes the rest directly
    /// (``DirectWrites/threshold``); nil never writes directly. Tests change it.
    var directWriteThreshold: Int? = DirectWrites.threshold
    /// Records per COPY batch.
    static let batchSize = 1000
    /// Room reserved for a batch's encoded rows: a result's row is about 120 bytes.
    static let batchBytes = 256 * 1024
    /// Lines prepared together, one batch ahead of the reader: that keeps both cores busy
    /// (the reader and one preparer); two batches ahead were slower on a two-core server.
    static let preparedBatch = 2000
    /// A line as prepared ahead of the reader, with its record's key hash (pupils and
    /// results) and its digest when there is a list of stored records to compare it with or
    /// lines to remember. A remembered line (``RememberedLines``) is not parsed: `line` is
    /// nil, and its record's hashes are those remembered.
    private struct Prepared {
        let number: Int
        /// Where the line's bytes are in its batch's.
        let range: Range<Int>
        var line: RecordStreamValidator.PreparedLine?
        let key: Int?
        let digest: StoredRecords.Digest?
        /// The hash the line is remembered by, when the run remembers lines.
        let lineHash: UInt64?
        /// For a remembered line: its index among them, and its record's type.
        let remembered: (index: Int, type: String)?
    }

    /// Prepared lines handed from a preparer to the reader, and back to the next preparer to
    /// be freed there (their bytes' buffer goes back to the reader, for the lines it reads
    /// next). A chunk freed by a thread other than the one that allocated it takes the lock
    /// of glibc's arena it came from, the arena the preparer is allocating from at that
    /// moment: with the reader freeing every taken batch, a sixth of a re-run's samples were
    /// the two threads waiting on that lock. Only one task holds a batch at a time.
    private final class PreparedBatch: @unchecked Sendable {
        var lines: [Prepared]
        /// The lines' bytes, for a remembered line that must be read after all.
        var bytes: [UInt8]
        init(_ lines: [Prepared], bytes: [UInt8]) {
            self.lines = lines
            self.bytes = bytes
        }
    }

    /// A value moved to another task: taken there, it is that task's only reference, so
    /// changing it in place copies nothing.
    private final class Handover<Value>: @unchecked Sendable {
        private var value: Value?
        init(_ value: Value) { self.value = value }
        /// The value, once; nil after.
        func take() -> Value? {
            defer { value = nil }
            return value
        }
    }

    /// A batch's encoded rows on their way to the server, and its buffers back from it,
    /// emptied, for the batch after next. Allocated afresh for each batch, they were a fifth
    /// of the memory a million-record import touched for the first time, and on a virtual
    /// machine each such page can cost 10–25 µs. Only one task holds it at a time.
    private final class OutgoingBatch: @unchecked Sendable {
        var staging: [UInt8] = []
        var direct = DirectWrites.Rows()
        init() { staging.reserveCapacity(ImportPipeline.batchBytes) }
    }

    /// A pipeline writing to `database`, with plugins' scratch folders under `scratchRoot`.
    public init(database: ProvisionDatabase, scratchRoot: String, logger: Logger = Logger(label: "provision.import")) {
        self.database = database
        self.scratchRoot = scratchRoot
        self.logger = logger
    }

    /// The daemon's and `provisionctl`'s pipeline: scratch folders and remembered lines in
    /// the state folder (`state.dir`).
    public init(database: ProvisionDatabase, stateDirectory: String, logger: Logger = Logger(label: "provision.import")) {
        self.init(database: database, scratchRoot: stateDirectory + "/scratch", logger: logger)
        memoryRoot = stateDirectory + "/remembered-lines"
    }

    /// Advisory-lock class of "an import of this source is running" (the second key is the
    /// source name's hash): two imports of one source never run at once, whoever starts them.
    static let sourceLockClass: Int32 = 0x5350_4931

    /// Runs one import. Database failures are thrown; everything else ends in a summary.
    public func run(_ request: ImportRequest) async throws -> ImportSummary {
        // Both connections are finished when released (PostgresConnection's deinit), which
        // also releases the source's lock.
        let book = try await database.connect(applicationName: "provision-import-log")
        // Console edits are short and many people make them: they wait their turn.
        let lock = request.consoleLines == nil
            ? "SELECT pg_try_advisory_lock($1, hashtext($2)) AS locked"
            : "SELECT true AS locked FROM (SELECT pg_advisory_lock($1, hashtext($2))) AS taken"
        let locked = try await book.query(lock, Self.sourceLockClass, request.sourceName).scalar(as: Bool.self)
        guard locked else {
            let id = try await book.query(
                """
                INSERT INTO import_runs (source, plugin, plugin_version, schools, status, failure, finished_at)
                VALUES ($1, $2, $3, $4::text[], 'failed', $5, now()) RETURNING id
                """, request.sourceName, request.plugin.name, request.plugin.version, request.schools.map(\.urn),
                "another import of source '\(request.sourceName)' is running; this one did not start (try again when it has finished)"
            ).scalar(as: Int64.self)
            var summary = ImportSummary(runID: id, status: .failed)
            summary.sourceBusy = true
            summary.failure = "another import of source '\(request.sourceName)' is running; try again when it has finished"
            logger.warning("import refused: the source is being imported", metadata: ["source": "\(request.sourceName)", "run": "\(id)"])
            return summary
        }
        do {
            let summary = try await runLocked(request, book: book)
            _ = try? await book.query("SELECT pg_advisory_unlock($1, hashtext($2))", Self.sourceLockClass, request.sourceName)
            return summary
        } catch {
            _ = try? await book.query("SELECT pg_advisory_unlock($1, hashtext($2))", Self.sourceLockClass, request.sourceName)
            throw error
        }
    }

    /// Fresh statistics for the tables a run changed by a tenth or more (autovacuum's own
    /// threshold, applied now rather than at its next round), so the evaluation that follows
    /// plans its joins on today's sizes. Analysing every table after every import was a
    /// tenth of a trust's import through the daemon.
    private func refreshStatistics(_ db: PostgresConnection, after merge: MergeStatistics) async throws {
        var changed: [String: Int] = ["pupils": merge.markedLeft]
        for (table, rows) in merge.inserted { changed[table, default: 0] += rows }
        for (table, rows) in merge.updated { changed[table, default: 0] += rows }
        changed["results"] = changed.removeValue(forKey: "assessments")  // counted under the records' name
        let candidates = ["pupils", "results", "enrolments", "provisions", "pupil_needs"].filter { changed[$0, default: 0] > 1000 }
        guard !candidates.isEmpty else { return }
        let sizes = try await db.query(
            """
            SELECT relname, reltuples::float8 AS rows FROM pg_class
             WHERE relname = ANY($1::text[]) AND relkind = 'r' AND relnamespace = 'public'::regnamespace
            """, candidates
        ).rows
        var known: [String: Double] = [:]
        for row in sizes { known[try row.decode("relname")] = try row.decode("rows") }
        // reltuples is -1 for a table never analysed.
        let stale = candidates.filter { Double(changed[$0, default: 0]) >= 0.1 * max(known[$0] ?? 0, 0) }
        guard !stale.isEmpty else { return }
        try await db.execute("ANALYZE " + stale.joined(separator: ", "))
    }

    private func runLocked(_ request: ImportRequest, book: PostgresConnection) async throws -> ImportSummary {
        let started = ContinuousClock.now
        let urns = request.schools.map(\.urn)

        var checksum: String?
        var checksumFailure: String?
        // A run with nothing to compare its checksum with (forced, or the source's first)
        // needs it only to record it: the input is hashed on its own thread while the run
        // starts, and the run waits for it before its plugin starts (0.2–0.4 s of a
        // million-record import, which waited for it first).
        let hashing = request.consoleLines == nil
            ? Task { [path = request.path, plugin = request.plugin] in try await InputChecksum.computeOffPool(path: path, plugin: plugin) }
            : nil
        // The source's last successful run: its checksum (unless forced) and how many lines
        // it read, for the progress's time left.
        let lastRun = hashing == nil ? nil : try await book.query(
            """
            SELECT input_checksum, (SELECT sum(n.value::bigint) FROM jsonb_each_text(counts->'sent') AS n)::bigint AS sent
              FROM import_runs
             WHERE source = $1 AND status = 'succeeded' ORDER BY id DESC LIMIT 1
            """, request.sourceName
        ).singleRow()
        let lastChecksum: String? = request.force ? nil : try lastRun?.decode("input_checksum", as: String?.self) ?? nil
        // Its records, the header and the end.
        let expectedLines = try lastRun?.decode("sent", as: Int?.self).map { $0 + 2 }
        if let hashing, let lastChecksum {
            do {
                checksum = try await hashing.value
            } catch {
                checksumFailure = "\(error)"
            }
            if checksum == lastChecksum {
                let id = try await book.query(
                    """
                    INSERT INTO import_runs (source, plugin, plugin_version, schools, status, input_checksum, finished_at)
                    VALUES ($1, $2, $3, $4::text[], 'unchanged', $5, now()) RETURNING id
                    """, request.sourceName, request.plugin.name, request.plugin.version, urns, checksum
                ).scalar(as: Int64.self)
                logger.info("import unchanged", metadata: ["source": "\(request.sourceName)", "run": "\(id)"])
                var summary = ImportSummary(runID: id, status: .unchanged)
                summary.checksum = checksum
                summary.duration = ContinuousClock.now - started
                return summary
            }
        }

        let runID = try await book.query(
            """
            INSERT INTO import_runs (source, plugin, plugin_version, schools, input_checksum)
            VALUES ($1, $2, $3, $4::text[], $5) RETURNING id
            """, request.sourceName, request.plugin.name, request.plugin.version, urns, checksum
        ).scalar(as: Int64.self)
        logger.info("import started", metadata: ["source": "\(request.sourceName)", "run": "\(runID)", "plugin": "\(request.plugin.name)"])

        var summary = ImportSummary(runID: runID, status: .failed)
        summary.checksum = checksum
        if let checksumFailure {
            summary.failure = checksumFailure
            summary.inputRejected = true
        } else {
            do {
                try await stageAndMerge(
                    request, runID: runID, book: book, hashing: lastChecksum == nil ? hashing : nil, expectedLines: expectedLines,
                    summary: &summary)
            } catch let error as PostgresError where error.isConnectionProblem {
                summary.failure = "the database connection was lost: \(error.message)"
                try? await record(summary, book: book)
                throw error
            } catch is CancellationError {
                summary.failure = "cancelled (the supervisor is shutting down)"
                try? await record(summary, book: book)
                throw CancellationError()
            } catch {
                summary.failure = "\(error)"
            }
        }
        summary.duration = ContinuousClock.now - started
        try await record(summary, book: book)
        logger.info(
            "import finished",
            metadata: [
                "source": "\(request.sourceName)", "run": "\(runID)", "status": "\(summary.status.rawValue)",
                "records": "\(summary.sent.values.reduce(0, +))", "rejected": "\(summary.rejected)",
                "written_directly": "\(summary.merge.writtenDirectly)", "remembered_lines": "\(summary.rememberedLines)",
                "results_vouched": "\(summary.resultsVouched)",
            ])
        return summary
    }

    /// Stages the plugin's records and merges them in one transaction. `hashing`, for a run
    /// with no checksum to compare with, is the input's checksum still being computed: the
    /// input's files are checked before the plugin starts, the checksum is waited for before
    /// the run commits, and a failure of either stops the run as it would have before.
    private func stageAndMerge(
        _ request: ImportRequest, runID: Int64, book: PostgresConnection, hashing: Task<String, any Error>?,
        expectedLines: Int?, summary: inout ImportSummary
    ) async throws {
        let db = try await database.connect(applicationName: "provision-import")
        var validator = RecordStreamValidator(
            pluginName: request.plugin.name, boundSchools: Set(request.schools.map(\.urn)), today: .today())
        // Staging rows in COPY text format, written as records are taken (``StagingMerge``).
        var batch: [UInt8] = []
        batch.reserveCapacity(Self.batchBytes)
        var batchRows = 0
        var rejections: [Rejection] = []
        var rejectedPupilsStaged = 0
        var storedRejections = 0
        var firstReasons: [String] = []

        func flushRejections() async throws {
            guard !rejections.isEmpty else { return }
            for rejection in rejections where storedRejections < Self.storedRejectionLimit {
                storedRejections += 1
                try await book.execute(
                    """
                    INSERT INTO rejected_records (import_run_id, line, record_type, severity, reason, ref)
                    VALUES ($1, $2, $3, $4, $5, $6)
                    """, runID, rejection.line, rejection.type, rejection.severity.rawValue, rejection.reason, rejection.ref)
            }
            rejections.removeAll(keepingCapacity: true)
        }

        // The batch being sent (``send(withDirectRows:)``, below).
        var sending: Task<OutgoingBatch, any Error>?
        func sent() async throws {
            defer { sending = nil }
            _ = try await sending?.value
        }
        // A failed run waits for the batch in flight before its transaction is rolled back.
        func abandon() async {
            try? await sent()
            await db.rollback()
        }

        // From the plugin's first line: the rate, and the time left from it, are the reading's
        // alone. Counted from before the stored rows were listed (1.7 s of a forced
        // million-record re-import), 10,000 lines in said "about 174 s left" of a 3 s read.
        var firstLine: ContinuousClock.Instant?
        var bytesRead = 0
        func progress(_ phase: ImportProgress.Phase, records: Int) {
            let now = ContinuousClock.now
            onProgress?(ImportProgress(
                source: request.sourceName, phase: phase, records: records, bytes: bytesRead, elapsed: now - (firstLine ?? now),
                expectedRecords: expectedLines))
        }

        try await db.begin()
        do {
            // This transaction's settings; they end with it (``plannerSettings``). The run's
            // temporary tables are analysed so the planner knows their sizes and rough shapes,
            // which a 3,000-row sample gives as well as the default 30,000: analysing a million
            // staged records took 0.12 s, now 0.015 s (0.2 s of a first run in all); the
            // tables' own statistics after it keep the server's setting.
            for setting in Self.plannerSettings { try await db.execute(setting) }
            try await db.execute("SET LOCAL default_statistics_target = 10")
            // Console edits are a few records, and mark what they write as the SENCO's.
            let kinds = request.consoleLines == nil ? try await StoredRecords.kinds(carriedBy: request.sourceName, db) : []
            // `current_date` of this transaction, which the stored rows, direct writes and
            // remembered lines all go by; and the lines the source's last run remembered (not
            // for console edits).
            let runToday = try await db.query("SELECT current_date::text AS today").scalar(as: String.self)
            let memoryPath = request.consoleLines == nil ? memoryRoot.map { "\($0)/\(request.sourceName).lines" } : nil
            let runDay = SchoolDate(iso: runToday)?.daysSince1970
            // Off the pool: the file is read whole.
            let (remembered, memoryContext) = try await InputChecksum.offPool { [plugin = request.plugin.name, schools = request.schools.map(\.urn)] in
                guard let memoryPath, let runDay, let context = RememberedLines.context(plugin: plugin, schools: schools) else {
                    return (RememberedLines?.none, String?.none)
                }
                return (RememberedLines.load(path: memoryPath, context: context, today: runDay), context)
            }
            let recordHashing = remembered?.hashing ?? .fresh()
            var recorder = memoryContext == nil ? nil : RememberedLines.Recorder(old: remembered, today: runToday, hashing: recordHashing)
            // The schools' data versions before anything is listed or judged stored, and whether
            // the last run vouched for the remembered lines' results at them.
            let startVersions = recorder == nil ? nil : try await StoredResultsVouch.read(db, schools: request.schools.map(\.urn))
            var resultsVouched = false
            if let startVersions, let remembered, kinds.contains(.results), takesVouchedResults {
                resultsVouched = try await startVersions.isVouched(by: request.sourceName, stamp: remembered.stamp, db)
            }
            // The run's second connection is idle until the plugin starts: it reads the results.
            var stored = kinds.isEmpty ? nil : try await StoredRecords.load(
                db, alongside: book, schools: request.schools.map(\.urn), kinds: kinds,
                vouched: resultsVouched ? remembered.map { ($0.entries.count, $0.resultCount) } : nil,
                limit: storedEntryLimit, today: runToday, hashing: recordHashing)
            summary.resultsVouched = stored?.resultsVouched == true
            // The checksum is still being computed: what it would refuse (a missing file, a
            // FIFO, a device) is refused before the plugin starts, and the run waits for it
            // only before it commits. Waiting for it here kept a first import of a million
            // records on one core for 0.2 s more.
            if hashing != nil {
                do {
                    try await InputChecksum.offPool { [path = request.path, accepts = request.plugin.accepts] in
                        try InputChecksum.checkReadable(path: path, accepts: accepts)
                    }
                } catch {
                    throw ImportFailure("\(error)", inputRejected: true)
                }
            }
            // The two lists of hashes share one budget, so the supervisor's memory stays bounded.
            var stagedKeys = StagedKeys(limit: max(0, StagedKeys.defaultLimit - (stored?.rowCount ?? 0)))
            let schoolIDs = try await StagingMerge.insertBoundSchools(db, runID: runID, schools: request.schools)
            var resultTests = ResultTests(book: book)
            var direct: DirectWrites?
            if request.consoleLines == nil, stored == nil, let threshold = directWriteThreshold {
                // The planner's estimate of the stored pupils is enough to tell a small run
                // in a large deployment (reltuples is -1 before the table's first analysis).
                let storedPupils = try await db.query(
                    "SELECT greatest(reltuples, 0)::bigint AS pupils FROM pg_class WHERE oid = 'pupils'::regclass"
                ).singleRow()?.decode("pupils", as: Int.self)
                if let storedPupils {
                    direct = DirectWrites(
                        runID: runID, today: runToday, schoolIDs: schoolIDs, book: book, threshold: max(threshold, storedPupils / 4))
                }
            }
            // Each batch is sent on the connection's own thread while the next is validated
            // here, so the two share the cores rather than wait for each other. Rows written
            // directly go between two staging COPYs. The batch's buffers are exchanged for
            // those of the batch sent before, emptied (``OutgoingBatch``).
            func send(withDirectRows: Bool) async throws {
                let outgoing = try await sending?.value ?? OutgoingBatch()
                swap(&batch, &outgoing.staging)
                if withDirectRows { direct?.swapRows(with: &outgoing.direct) }
                sending = Task {
                    try await db.withIsolation { [rows = outgoing.direct] in
                        try DirectWrites.copy(rows, into: $0, reopening: StagingMerge.copyStaging)
                    }
                    try await db.copyEncodedRows(outgoing.staging)
                    outgoing.staging.removeAll(keepingCapacity: true)
                    outgoing.direct.removeAll()
                    return outgoing
                }
            }
            try await db.execute(StagingMerge.createStaging)
            try await db.startCopy(StagingMerge.copyStaging)
            // Lines are parsed and validated a batch ahead, on another core, while the batch
            // before is taken in order here (counts, the protocol's state, staging): with
            // unchanged records no longer staged, validating was most of a re-run.
            // A batch's lines are copied into one buffer, not an array each: a million
            // allocations and frees fewer per million lines.
            var readBytes: [UInt8] = []
            var readLines: [(number: Int, range: Range<Int>)] = []
            var preparing: Task<PreparedBatch, Never>?
            // The batch last taken, for the next preparer to free (``PreparedBatch``).
            var taken: PreparedBatch?
            // Records are hashed to be compared with the stored rows, or to be remembered; a
            // remembered line is looked up only when there are stored rows to compare it with.
            let today = stored != nil || recorder != nil ? runToday : nil
            let hashesLines = recorder != nil
            let lookup = stored == nil ? nil : remembered
            let vouched = stored?.resultsVouched == true
            func read(_ bytes: [UInt8], _ lines: [Range<Int>], _ first: Int) async throws {
                if firstLine == nil { firstLine = .now }
                for (offset, line) in lines.enumerated() {
                    let number = first + offset
                    bytesRead += line.count + 1
                    if number % 10_000 == 0 { progress(.reading, records: number) }
                    let start = readBytes.count
                    readBytes.append(contentsOf: bytes[line])
                    readLines.append((number, start..<readBytes.count))
                    if readLines.count >= Self.preparedBatch { try await prepareNext() }
                }
            }
            func prepareNext() async throws {
                let done = taken
                taken = nil
                // The next lines go into the buffer of the batch taken last, emptied: written
                // again rather than allocated afresh (``OutgoingBatch`` says why).
                var bytes: [UInt8] = []
                if let done { swap(&bytes, &done.bytes) }
                bytes.removeAll(keepingCapacity: true)
                swap(&bytes, &readBytes)
                readBytes.reserveCapacity(bytes.count)
                let lines = readLines
                readLines = []
                readLines.reserveCapacity(Self.preparedBatch)
                let previous = preparing
                preparing = Task { [bytes] in
                    done?.lines = []
                    return PreparedBatch(lines.map { line in
                        let lineHash = hashesLines
                            ? bytes.withUnsafeBytes { RememberedLines.lineHash(UnsafeRawBufferPointer(rebasing: $0[line.range]), recordHashing) }
                            : nil
                        if let lineHash, let lookup, let index = lookup.find(lineHash) {
                            let (type, digest) = lookup.record(at: index)
                            return Prepared(
                                number: line.number, range: line.range, line: nil, key: digest.key, digest: digest,
                                lineHash: lineHash, remembered: (index, type))
                        }
                        let prepared = RecordStreamValidator.prepare(bytes[line.range])
                        let digest = today.flatMap { today in prepared.record.flatMap { recordHashing.digest($0, today: today) } }
                        return Prepared(
                            number: line.number, range: line.range, line: prepared,
                            key: digest?.key ?? prepared.record.flatMap(recordHashing.key), digest: digest, lineHash: lineHash,
                            remembered: nil)
                    }, bytes: bytes)
                }
                guard let previous else { return }
                let batch = await previous.value
                for line in batch.lines { try await take(line, from: batch) }
                taken = batch
            }
            func readAll() async throws {
                try await prepareNext()
                guard let last = preparing else { return }
                preparing = nil
                let batch = await last.value
                for line in batch.lines { try await take(line, from: batch) }
            }
            func take(_ prepared: Prepared, from lines: PreparedBatch) async throws {
                let number = prepared.number
                if let memo = prepared.remembered, let digest = prepared.digest {
                    let keyStaged = vouched && (!stagedKeys.knowsEveryKey || stagedKeys.contains(digest.key))
                    if validator.takesRecords, stored?.skipsRemembered(memo.type, digest, index: memo.index, keyStaged: keyStaged) == true {
                        validator.countRemembered(memo.type)
                        recorder?.keep(memo.index)
                        summary.rememberedLines += 1
                        return
                    }
                    // Not stored as its record would write it: read as any other line.
                }
                let line = prepared.line ?? RecordStreamValidator.prepare(lines.bytes[prepared.range])
                switch try validator.consume(line, number: number) {
                case .accepted(let record):
                    if let lineHash = prepared.lineHash, let digest = prepared.digest { recorder?.note(line: lineHash, record, digest) }
                    // A record stored as it is is not staged (a snapshot's skipped pupils are
                    // listed for the leaver rule by recordSkippedPupils).
                    let skipped = prepared.digest.map { stored?.skips(record.type, $0) == true } ?? false
                    var testID: Int32?
                    if !skipped, let result = record.result { testID = try await resultTests.id(of: result) }
                    if !skipped, try await direct?.take(record, key: prepared.key, testID: testID, stagedKeys: stagedKeys) != true {
                        StagingMerge.appendStagingRow(line: number, record, to: &batch)
                        batchRows += 1
                        if let key = prepared.key { stagedKeys.note(record.type, key: key) }
                    }
                    if let warning = record.warning {
                        rejections.append(Rejection(line: number, type: record.type, severity: .warning, reason: warning, ref: nil))
                    }
                    let directFull = (direct?.rows.count ?? 0) >= DirectWrites.batchRows
                    if batchRows >= Self.batchSize || directFull {
                        try await send(withDirectRows: directFull)
                        batchRows = 0
                    }
                case .rejected(let rejection):
                    if firstReasons.count < 10 { firstReasons.append("line \(rejection.line): \(rejection.reason)") }
                    rejections.append(rejection)
                    // Staged so the merge knows never to mark this pupil as left.
                    if let pupil = rejection.pupil {
                        StagingMerge.appendRejectedPupilRow(line: number, pupil, to: &batch)
                        batchRows += 1
                        rejectedPupilsStaged += 1
                    }
                case .header, .end, .ignored:
                    break
                }
                if rejections.count >= 100 { try await flushRejections() }
            }
            let outcome: PluginRunOutcome
            if let lines = request.consoleLines {
                for (index, line) in lines.enumerated() { try await read(Array(line.utf8), [0..<line.utf8.count], index + 1) }
                outcome = PluginRunOutcome(
                    ending: .exited(0), standardError: "", stderrBytesDropped: 0, stdoutBytes: bytesRead, lines: lines.count)
            } else {
                outcome = try await PluginRunner.run(
                    request.plugin, source: request.path, schools: request.schools.map(\.urn),
                    extraEnvironment: request.environment, limits: request.limits, scratchRoot: scratchRoot,
                    onLines: read)
            }
            try await readAll()
            try await send(withDirectRows: true)
            try await sent()
            _ = try await db.finishCopy()
            // From here until the commit no other transaction changes these schools' data: a run
            // that judged records stored (from the lists or a vouch) vouches only if nobody did
            // since it started, and then tells the merge only the listed pupils it did not skip.
            let unchangedSinceStart = try await startVersions?.lockUnchanged(db, schools: request.schools.map(\.urn))
            let skippedPupils = try await StoredRecords.recordSkippedPupils(stored, db, listedUnchanged: unchangedSinceStart == true)
            if let remembered { stored?.countVouchedRepeats(of: remembered, staged: stagedKeys) }
            try await flushRejections()
            summary.stderr = outcome.standardError
                + (outcome.stderrBytesDropped > 0 ? "\n[… \(outcome.stderrBytesDropped) more bytes of stderr not kept]" : "")
            summary.sourceKind = validator.sourceKind
            summary.sent = validator.sent
            summary.accepted = validator.accepted
            summary.rejected = validator.rejectedCount
            summary.warnings = validator.warningCount
            summary.firstReasons = firstReasons

            guard outcome.succeeded else {
                throw ImportFailure("the plugin \(outcome.ending)", inputRejected: false)
            }
            do {
                try validator.finish()
            } catch {
                throw ImportFailure("protocol error: \(error)", inputRejected: true)
            }
            try checkThresholds(validator.rejectedByType, total: summary.rejected, validator: validator, max: request.maxRejected)

            progress(.merging, records: outcome.lines)
            do {
                var staged = validator.accepted.merging(stored?.skipped ?? [:]) { accepted, skipped in accepted - skipped }
                    .merging(direct?.written ?? [:]) { accepted, written in accepted - written }
                staged[StagingMerge.rejectedPupilType] = rejectedPupilsStaged
                summary.merge = try await StagingMerge.merge(
                    db, runID: runID, schools: request.schools, staged: staged,
                    keysMayRepeat: stagedKeys.mayRepeat,
                    snapshotPupils: validator.sourceKind == "snapshot" && validator.sent["pupil", default: 0] > 0,
                    skippedPupils: skippedPupils,
                    consoleEdit: request.consoleLines != nil,
                    maxLeavers: request.force ? nil : request.maxLeavers)
            } catch let refused as MassLeaversRefused {
                throw ImportFailure(refused.description, inputRejected: true)
            }
            summary.merge.alreadyStored = stored?.skipped.values.reduce(0, +) ?? 0
            summary.merge.duplicates += (stored?.duplicates ?? 0) + (direct?.repeats ?? 0)
            if let direct {
                summary.merge.inserted.merge(direct.inserted, uniquingKeysWith: +)
                summary.merge.writtenDirectly = direct.written.values.reduce(0, +)
            }
            summary.rejected += summary.merge.rejectedAtMerge
            summary.firstReasons += summary.merge.reasons
            for urn in summary.merge.leaversWithheld {
                summary.firstReasons.append(
                    "school \(urn): a pupil record was rejected without a usable UPN, so no pupil of \(urn) was marked as left this run")
            }
            let rejectedByType = validator.rejectedByType.merging(summary.merge.rejectedAtMergeByType, uniquingKeysWith: +)
            try checkThresholds(rejectedByType, total: summary.rejected, validator: validator, max: request.maxRejected)
            if let hashing {
                do {
                    summary.checksum = try await hashing.value
                } catch {
                    throw ImportFailure("\(error)", inputRejected: true)
                }
            }
            // Drawn for a file written afresh; a file left as it is keeps its stamp.
            var stamp: UInt64?
            var vouching = false
            if let recorder {
                stamp = recorder.changesNothing ? remembered?.stamp : UInt64.random(in: .min ... .max)
                let vouches = stamp != nil && (stored == nil || unchangedSinceStart == true) && summary.merge.duplicates == 0
                    && summary.merge.rejectedAtMergeByType["assessment", default: 0] == 0
                if let stamp, vouches {
                    try await StoredResultsVouch.vouch(
                        for: request.sourceName, run: runID, stamp: stamp, schools: request.schools.map(\.urn), db)
                    vouching = true
                } else {
                    try await StoredResultsVouch.forget(request.sourceName, db)
                }
            }
            if let within = request.consoleWithin { try await db.withIsolation(within) }
            try await db.commit()
            summary.status = .succeeded
            summary.vouchesForResults = vouching
            // The lines to remember are written while the server analyses what changed.
            var remembering: Task<Void, any Error>?
            if recorder?.changesNothing == false, let memoryRoot, let memoryPath, let memoryContext, let runDay, let stamp,
               let handover = recorder.map(Handover.init) {
                // Handed over whole: the writer sorts the lines in place, which a copy still
                // shared with this task would have copied first (24 MiB of fresh memory).
                recorder = nil
                remembering = Task {
                    try await InputChecksum.offPool {
                        guard let finished = handover.take() else { return }
                        try PrivateFiles.createFolder(memoryRoot)
                        try finished.write(to: memoryPath, hashing: recordHashing, context: memoryContext, today: runDay, stamp: stamp)
                    }
                }
            }
            try await refreshStatistics(db, after: summary.merge)
            do {
                try await remembering?.value
            } catch {
                // Only time is lost: the next run reads every line.
                logger.warning("could not remember the run's lines", metadata: ["source": "\(request.sourceName)", "error": "\(error)"])
            }
        } catch let failure as ImportFailure {
            await abandon()
            summary.failure = failure.message
            summary.inputRejected = failure.inputRejected
        } catch let violation as ProtocolViolation {
            await abandon()
            try? await flushRejections()
            summary.failure = "protocol error: \(violation)"
            summary.inputRejected = true
        } catch let error as PluginOutputError {
            await abandon()
            summary.failure = "protocol error: \(error)"
            summary.inputRejected = true
        } catch {
            await abandon()
            try? await flushRejections()
            throw error
        }
    }

    /// Fails the run when the rejected share passes `max_rejected` overall or for any one
    /// record type, so a few thousand good assessments cannot hide a tenth of the pupils.
    private func checkThresholds(_ byType: [String: Int], total: Int, validator: RecordStreamValidator, max: Double) throws {
        try checkThreshold(rejected: total, of: validator.recordCount, max: max, what: "records")
        for (type, rejected) in byType.sorted(by: { $0.key < $1.key }) {
            try checkThreshold(rejected: rejected, of: validator.sent[type, default: 0], max: max, what: "\(type) records")
        }
    }

    private func checkThreshold(rejected: Int, of total: Int, max: Double, what: String) throws {
        guard total > 0, Double(rejected) / Double(total) > max else { return }
        let share = Double(rejected) / Double(total) * 100
        throw ImportFailure(
            "\(rejected) of \(total) \(what) were rejected (\(String(format: "%.1f", share))%), more than the "
                + "\(String(format: "%g", max * 100))% allowed (max_rejected); nothing was imported",
            inputRejected: true)
    }

    private func record(_ summary: ImportSummary, book: PostgresConnection) async throws {
        let counts = JSONCounts.encode(
            sent: summary.sent, accepted: summary.accepted, merge: summary.merge, rememberedLines: summary.rememberedLines)
        let reasons = "[" + summary.firstReasons.map { JSONCounts.quote($0) }.joined(separator: ",") + "]"
        try await book.execute(
            """
            UPDATE import_runs
               SET status = $2, failure = $3, finished_at = now(), counts = $4::jsonb, rejected_count = $5,
                   warning_count = $6, first_reasons = $7::jsonb, stderr_tail = $8,
                   input_checksum = coalesce($9, input_checksum)
             WHERE id = $1
            """, summary.runID, summary.status.rawValue, summary.failure, counts, summary.rejected, summary.warnings,
            reasons, String(summary.stderr.suffix(64 * 1024)), summary.checksum)
    }
}

/// Why a run was not committed.
struct ImportFailure: Error {
    let message: String
    let inputRejected: Bool
    init(_ message: String, inputRejected: Bool) {
        self.message = message
        self.inputRejected = inputRejected
    }
}

enum JSONCounts {
    static func encode(sent: [String: Int], accepted: [String: Int], merge: MergeStatistics, rememberedLines: Int) -> String {
        func object(_ values: [String: Int]) -> String {
            "{" + values.sorted { $0.key < $1.key }.map { "\(quote($0.key)):\($0.value)" }.joined(separator: ",") + "}"
        }
        return "{\"sent\":\(object(sent)),\"accepted\":\(object(accepted)),\"inserted\":\(object(merge.inserted)),"
            + "\"updated\":\(object(merge.updated)),\"marked_left\":\(merge.markedLeft),\"duplicates\":\(merge.duplicates),"
            + "\"already_stored\":\(merge.alreadyStored),\"written_directly\":\(merge.writtenDirectly),"
            + "\"remembered_lines\":\(rememberedLines)}"
    }

    static func quote(_ text: String) -> String { JSONValue.string(text).serialized }
}
