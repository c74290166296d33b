/// An error from PostgreSQL or from this module's use of libpq.
///
/// Carries what a person needs to act on it: which kind of failure (``code``), the server's
/// SQLSTATE, message and hint, the table, column and constraint concerned, and what the
/// statement was for. Values bound to a statement are never included: they may be pupil
/// data. The server's DETAIL line often repeats row values (`Key (upn)=(…)`, `Failing row
/// contains (…)`), so ``description`` — what reaches logs, `import_runs.failure` and
/// `jobs.last_error` — leaves it out; only ``debugDescription`` has it, and the product
/// never logs that.
public struct PostgresError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The kind of failure. A struct of static constants, so new kinds don't break callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// A short name of the kind, as printed.
        public let name: String
        init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The server could not be reached, or refused the connection.
        public static let connectionFailed = Code("connection failed")
        /// An open connection broke (server restarted, network gone).
        public static let connectionLost = Code("connection lost")
        /// The connection was used after ``PostgresConnection/close()``.
        public static let connectionClosed = Code("connection closed")
        /// The server rejected a statement; see ``PostgresError/sqlState``.
        public static let server = Code("server error")
        /// A value in a result could not be read as the type asked for.
        public static let decoding = Code("decoding failed")
        /// COPY data could not be sent or the COPY failed.
        public static let copy = Code("copy failed")
        /// The client side misused the protocol (for example a COPY statement through `execute`).
        public static let protocolMisuse = Code("protocol misuse")
        /// A value bound to a statement holds the NUL character, which PostgreSQL's text
        /// cannot store: bad input rather than a fault, so callers can say so to whoever sent it.
        public static let nulCharacter = Code("NUL character in a value")
    }

    /// What kind of failure this is.
    public var code: Code
    /// Five-character SQLSTATE from the server, e.g. `23505` for a unique violation.
    public var sqlState: String?
    /// The primary message: libpq's or the server's, never with bound values.
    public var message: String
    /// The server's DETAIL line; may repeat row values, so it is shown only by `debugDescription`.
    public var detail: String?
    /// The server's HINT line, when it gives one.
    public var hint: String?
    /// The column a decoding error or a server error is about.
    public var column: String?
    /// The table and constraint a server error is about (a unique or check violation).
    public var table: String?
    /// The constraint a violation is about.
    public var constraint: String?
    /// The first line of the statement that failed, to say where without pasting values.
    public var statement: String?

    /// An error of `code`; the server's fields when it came from the server.
    public init(
        code: Code, message: String, sqlState: String? = nil, detail: String? = nil,
        hint: String? = nil, column: String? = nil, table: String? = nil, constraint: String? = nil,
        statement: String? = nil
    ) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
        self.detail = detail
        self.hint = hint
        self.column = column
        self.table = table
        self.constraint = constraint
        self.statement = statement
    }

    /// True when the failure is about reaching the server rather than about the statement:
    /// the command line maps these to exit 69 (service unavailable).
    public var isConnectionProblem: Bool {
        code == .connectionFailed || code == .connectionLost || code == .connectionClosed
    }

    /// What failed and where, without the server's DETAIL (it can hold row values).
    public var description: String {
        var text = "PostgreSQL \(code)"
        if let sqlState { text += " [\(sqlState)]" }
        text += ": \(message)"
        let place = [table.map { "table \"\($0)\"" }, column.map { "column \"\($0)\"" }, constraint.map { "constraint \"\($0)\"" }]
            .compactMap { $0 }
        if !place.isEmpty { text += " (\(place.joined(separator: ", ")))" }
        if let hint { text += "\nHint: \(hint)" }
        if let statement { text += "\nStatement: \(statement)" }
        return text
    }

    /// ``description`` with the server's DETAIL: for a developer at a debugger, never for logs.
    public var debugDescription: String {
        guard let detail else { return description }
        return description + "\nDetail: \(detail)"
    }
}

/// Well-known SQLSTATE values the product reacts to.
public enum SQLState {
    /// SQLSTATE 23505: a unique constraint would be broken.
    public static let uniqueViolation = "23505"
    /// SQLSTATE 23503: a foreign key would point nowhere.
    public static let foreignKeyViolation = "23503"
    /// SQLSTATE 23514: a check constraint would be broken.
    public static let checkViolation = "23514"
    /// SQLSTATE 23502: a NOT NULL column would be null.
    public static let notNullViolation = "23502"
    /// SQLSTATE 40001: a serializable transaction must be retried.
    public static let serializationFailure = "40001"
    /// SQLSTATE 40P01: the transaction was chosen to end a deadlock.
    public static let deadlockDetected = "40P01"
    /// SQLSTATE 42P01: no such table.
    public static let undefinedTable = "42P01"
    /// SQLSTATE 3D000: no such database.
    public static let invalidCatalogName = "3D000"
    /// SQLSTATE 42P04: the database already exists.
    public static let duplicateDatabase = "42P04"
    /// SQLSTATE 57014: the statement was cancelled (a cancel request or a timeout).
    public static let queryCanceled = "57014"
    /// SQLSTATE 57P01: the server is shutting down or the session was terminated.
    public static let adminShutdown = "57P01"
}
