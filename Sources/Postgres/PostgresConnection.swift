import CLibPQ
import Foundation

/// One connection to PostgreSQL through libpq.
///
/// Statements are always parameterised (`$1`, `$2`, … with values passed separately to
/// `PQexecParams`); no method builds SQL from values. The actor runs on a thread of its own
/// because libpq blocks, and it serialises use, so a connection is never used by two tasks at
/// once. Give each task its own connection: a transaction that awaits other work would
/// otherwise let another caller's statements in.
///
/// The connection is finished exactly once: by ``close()`` or, failing that, when the actor
/// is released.
public actor PostgresConnection {
    private var handle: OpaquePointer?
    private let executor: ThreadExecutor
    /// The COPY statement in progress, if any.
    var copyStatement: String?

    public nonisolated var unownedExecutor: UnownedSerialExecutor {
        executor.asUnownedSerialExecutor()
    }

    private init() {
        executor = ThreadExecutor(name: "postgres-connection")
    }

    isolated deinit {
        if let handle { PQfinish(handle) }
        executor.shutdown()
    }

    /// Connects with a libpq connection string: a URI (`postgresql://user@host/db?sslmode=require`,
    /// or `postgresql:///db?host=/socket/dir`) or keyword/value pairs (`host=… dbname=…`).
    /// Every libpq option is honoured, `sslmode` included.
    ///
    /// The session is set to UTF-8, ISO dates and UTC so that values read back the same
    /// whatever the server's defaults, and without JIT compilation.
    ///
    /// - Parameters:
    ///   - conninfo: the connection string.
    ///   - password: a password kept out of the connection string (from a file or the environment).
    ///   - applicationName: shown in `pg_stat_activity` unless the string sets its own.
    /// - Throws: ``PostgresError`` with code `connectionFailed`.
    public static func connect(
        _ conninfo: String, password: String? = nil, applicationName: String = "send-provision"
    ) async throws -> PostgresConnection {
        OpenSSLExit.settled
        let connection = PostgresConnection()
        try await connection.open(conninfo, password: password, applicationName: applicationName)
        return connection
    }

    private func open(_ conninfo: String, password: String?, applicationName: String) throws {
        var keywords = ["dbname", "client_encoding", "fallback_application_name"]
        var values = [conninfo, "UTF8", applicationName]
        if let password {
            keywords.append("password")
            values.append(password)
        }
        let conn: OpaquePointer? = withCStringArray(keywords) { keywordPointers in
            withCStringArray(values) { valuePointers in
                PQconnectdbParams(keywordPointers, valuePointers, 1)
            }
        }
        guard let conn else {
            throw PostgresError(code: .connectionFailed, message: "libpq could not allocate a connection")
        }
        guard PQstatus(conn) == CONNECTION_OK else {
            let message = Self.trimmed(PQerrorMessage(conn)) ?? "unknown error"
            PQfinish(conn)  // needed even after a failed connect: it frees the PGconn
            throw PostgresError(
                code: .connectionFailed, message: message,
                hint: "Check database.url, that the server is running, and that its socket or host is reachable.")
        }
        handle = conn
        // libpq prints NOTICEs to stderr by default; they are not errors and not ours to print.
        _ = PQsetNoticeProcessor(conn, { _, _ in }, nil)
        // Constant text, no values: the one place a multi-statement string is sent here.
        // JIT off: the planner's estimate, not the work, decides when it compiles, and the
        // product's statements finish in milliseconds; compiling one (an insert of 8,000 flags
        // whose subquery it overestimated) took 145 ms of its 260.
        try runScript("SET DateStyle = ISO; SET TimeZone = 'UTC'; SET extra_float_digits = 3; SET jit = off")
    }

    /// Finishes the connection. Later calls fail with `connectionClosed`; closing twice is harmless.
    public func close() {
        if let handle {
            PQfinish(handle)
            self.handle = nil
        }
    }

    /// True while libpq reports the connection as usable.
    public var isOpen: Bool {
        guard let handle else { return false }
        return PQstatus(handle) == CONNECTION_OK
    }

    /// The server's process id for this session (useful to cancel or terminate it).
    public var backendPID: Int {
        guard let handle else { return 0 }
        return Int(PQbackendPID(handle))
    }

    // MARK: Statements

    /// Runs one statement with its parameters and returns all rows.
    @discardableResult
    public func query(_ sql: String, _ parameters: [any PostgresEncodable] = []) throws -> PostgresResult {
        let result = try exec(sql, parameters)
        defer { PQclear(result) }
        return Self.read(result)
    }

    /// Runs one statement and returns the number of rows it affected.
    @discardableResult
    public func execute(_ sql: String, _ parameters: [any PostgresEncodable] = []) throws -> Int {
        let result = try exec(sql, parameters)
        defer { PQclear(result) }
        return Self.affectedRows(result)
    }

    /// Variadic conveniences for ``query(_:_:)-(_,[any PostgresEncodable])`` and ``execute(_:_:)``.
    @discardableResult
    public func query(_ sql: String, _ parameters: any PostgresEncodable...) throws -> PostgresResult {
        try query(sql, parameters)
    }

    /// Runs one statement with its parameters and returns the number of rows it affected.
    @discardableResult
    public func execute(_ sql: String, _ parameters: any PostgresEncodable...) throws -> Int {
        try execute(sql, parameters)
    }

    /// Runs a script of several statements with no parameters. For trusted constant SQL only:
    /// the product's migrations. Never pass text that contains data.
    public func runScript(_ sql: String) throws {
        let conn = try liveHandle()
        let result = PQexec(conn, sql)
        defer { PQclear(result) }
        try check(result, sql: sql)
    }

    /// Runs `body` in a transaction: committed when it returns, rolled back when it throws.
    ///
    /// A COMMIT that the server turns into a rollback (because a statement failed and the
    /// error was swallowed inside `body`) is reported as an error, never as success.
    @discardableResult
    public func transaction<T: Sendable>(
        _ body: @Sendable (isolated PostgresConnection) async throws -> T
    ) async throws -> T {
        try begin()
        let value: T
        do {
            value = try await body(self)
        } catch {
            rollback()
            throw error
        }
        try commit()
        return value
    }

    /// Runs `body` on the connection's own thread, inside whatever transaction is open: for
    /// work that must join a transaction begun elsewhere (``begin()``), such as an audit row
    /// written with the change it records.
    public func withIsolation<T: Sendable>(_ body: @Sendable (isolated PostgresConnection) throws -> T) rethrows -> T {
        try body(self)
    }

    /// Starts a transaction; pair with ``commit()`` or ``rollback()``. Prefer
    /// ``transaction(_:)`` where the work fits in one closure.
    public func begin() throws {
        try execute("BEGIN")
    }

    /// Commits; throws when the server rolled back instead (a statement in it had failed).
    public func commit() throws {
        let result = try exec("COMMIT", [])
        defer { PQclear(result) }
        if let tag = PQcmdStatus(result), String(cString: tag) == "ROLLBACK" {
            throw PostgresError(
                code: .server, message: "the transaction was rolled back because a statement in it failed",
                statement: "COMMIT")
        }
    }

    /// Rolls back the open transaction (ending any COPY first); harmless when none is open
    /// or the connection is gone.
    public func rollback() {
        guard handle != nil else { return }
        abortCopy()
        _ = try? execute("ROLLBACK")
    }

    // MARK: libpq plumbing

    func liveHandle() throws -> OpaquePointer {
        guard let handle else {
            throw PostgresError(code: .connectionClosed, message: "the connection was already closed")
        }
        return handle
    }

    func exec(_ sql: String, _ parameters: [any PostgresEncodable]) throws -> OpaquePointer {
        let conn = try liveHandle()
        let texts = parameters.map(\.postgresText)
        for (index, text) in texts.enumerated() where text?.utf8.contains(0) == true {
            throw PostgresError(
                code: .nulCharacter, message: "parameter $\(index + 1) contains a NUL character",
                statement: Self.summary(sql))
        }
        // NUL-terminated copies that stay alive for the whole call.
        let copies: [UnsafeMutablePointer<CChar>?] = texts.map { $0.flatMap { strdup($0) } }
        defer { copies.forEach { free($0) } }
        let pointers = copies.map { $0.map { UnsafePointer($0) } }
        // Read before sending: a cancellation that lands once the statement is on its way must
        // cancel it, not pass it for clean-up.
        let cleanUp = Task.isCancelled
        guard PQsendQueryParams(conn, sql, Int32(pointers.count), nil, pointers, nil, nil, 0) == 1 else {
            throw connectionError(conn, sql: sql)
        }
        guard let result = try awaitResult(conn, sql: sql, cleanUp: cleanUp) else {
            throw connectionError(conn, sql: sql)
        }
        do {
            try check(result, sql: sql)
        } catch {
            PQclear(result)
            throw error
        }
        return result
    }

    /// Waits for the statement just sent, watching the task: a cancelled task (a daemon
    /// shutting down, a caller that gave up) asks the server to cancel the statement, which
    /// then fails with SQLSTATE 57014 instead of running on for as long as it takes.
    /// A statement that began in an already-cancelled task runs to its end: that is clean-up
    /// (a rollback, a job handed back) and must not be cut short.
    /// Returns the statement's last result, as `PQexecParams` would.
    private func awaitResult(_ conn: OpaquePointer, sql: String, cleanUp: Bool) throws -> OpaquePointer? {
        var cancelRequested = cleanUp
        while true {
            guard PQconsumeInput(conn) == 1 else { throw connectionError(conn, sql: sql) }
            if PQisBusy(conn) == 0 { break }
            if !cancelRequested && Task.isCancelled {
                cancelRequested = true
                if let cancel = PQgetCancel(conn) {
                    var reason = [CChar](repeating: 0, count: 256)
                    // A failed request only means the statement runs to its end, as before.
                    _ = PQcancel(cancel, &reason, Int32(reason.count))
                    PQfreeCancel(cancel)
                }
            }
            // Wake for the server's reply, or every 100 ms to look at the task again.
            var socket = pollfd(fd: PQsocket(conn), events: Int16(POLLIN), revents: 0)
            _ = poll(&socket, 1, 100)
        }
        var last: OpaquePointer?
        while let next = PQgetResult(conn) {
            if let last { PQclear(last) }
            last = next
            switch PQresultStatus(next) {
            case PGRES_COPY_IN, PGRES_COPY_OUT, PGRES_COPY_BOTH: return next  // `check` ends the COPY
            default: continue
            }
        }
        return last
    }

    func check(_ result: OpaquePointer?, sql: String) throws {
        let conn = try liveHandle()
        guard let result else { throw connectionError(conn, sql: sql) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            return
        case PGRES_COPY_IN, PGRES_COPY_OUT, PGRES_COPY_BOTH:
            // Leave the connection usable: end the COPY the statement started.
            _ = PQputCopyEnd(conn, "COPY is not allowed through execute/query")
            while let pending = PQgetResult(conn) { PQclear(pending) }
            throw PostgresError(
                code: .protocolMisuse, message: "COPY statements go through copyIn", statement: Self.summary(sql))
        default:
            throw Self.error(from: result, connection: conn, sql: sql)
        }
    }

    func connectionError(_ conn: OpaquePointer, sql: String?) -> PostgresError {
        let lost = PQstatus(conn) != CONNECTION_OK
        return PostgresError(
            code: lost ? .connectionLost : .server,
            message: Self.trimmed(PQerrorMessage(conn)) ?? "no result from the server",
            statement: sql.map(Self.summary))
    }

    static func error(from result: OpaquePointer, connection conn: OpaquePointer, sql: String?) -> PostgresError {
        func field(_ code: Character) -> String? {
            guard let ascii = code.asciiValue, let text = PQresultErrorField(result, Int32(ascii)) else { return nil }
            return String(cString: text)
        }
        let sqlState = field("C")
        let lost = PQstatus(conn) != CONNECTION_OK
        return PostgresError(
            code: lost ? .connectionLost : .server,
            message: field("M") ?? trimmed(PQresultErrorMessage(result)) ?? trimmed(PQerrorMessage(conn))
                ?? "unknown error",
            sqlState: sqlState, detail: field("D"), hint: field("H"),
            column: field("c"), table: field("t"), constraint: field("n"), statement: sql.map(summary))
    }

    static func read(_ result: OpaquePointer) -> PostgresResult {
        let columnCount = Int(PQnfields(result))
        let rowCount = Int(PQntuples(result))
        var columns: [String] = []
        columns.reserveCapacity(columnCount)
        var index: [String: Int] = [:]
        for column in 0..<columnCount {
            let name = PQfname(result, Int32(column)).map { String(cString: $0) } ?? "?column?"
            columns.append(name)
            if index[name] == nil { index[name] = column }
        }
        var rows: [PostgresRow] = []
        rows.reserveCapacity(rowCount)
        for row in 0..<rowCount {
            var values: [String?] = []
            values.reserveCapacity(columnCount)
            for column in 0..<columnCount {
                if PQgetisnull(result, Int32(row), Int32(column)) == 1 {
                    values.append(nil)
                } else if let value = PQgetvalue(result, Int32(row), Int32(column)) {
                    values.append(String(cString: value))
                } else {
                    values.append(nil)
                }
            }
            rows.append(PostgresRow(columnIndex: index, values: values))
        }
        return PostgresResult(columns: columns, rows: rows, affectedRows: affectedRows(result))
    }

    static func affectedRows(_ result: OpaquePointer) -> Int {
        guard let tuples = PQcmdTuples(result) else { return 0 }
        return Int(String(cString: tuples)) ?? 0
    }

    static func trimmed(_ text: UnsafePointer<CChar>?) -> String? {
        guard let text else { return nil }
        let value = String(cString: text).trimmingCharacters(in: .whitespacesAndNewlines)
        return value.isEmpty ? nil : value
    }

    /// The statement's first line, for error messages: says which statement without values.
    static func summary(_ sql: String) -> String {
        let line = sql.split(whereSeparator: \.isNewline).first { !$0.allSatisfy(\.isWhitespace) } ?? ""
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        return trimmed.count > 120 ? String(trimmed.prefix(117)) + "..." : trimmed
    }
}

/// Calls `body` with a NULL-terminated array of C strings that live for the call.
private func withCStringArray<R>(_ strings: [String], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
    let copies = strings.map { strdup($0) }
    defer { copies.forEach { free($0) } }
    return body(copies.map { $0.map { UnsafePointer($0) } } + [nil])
}
