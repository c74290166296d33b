import CLibPQ

extension PostgresConnection {
    /// Bulk-loads rows with `COPY … FROM STDIN` in text format.
    ///
    /// `produce` is called repeatedly and returns the next batch of rows (each row a list of
    /// column values, `nil` for NULL), or `nil` when there are no more. If `produce` throws,
    /// the COPY is aborted on the server and nothing from it is kept.
    ///
    /// - Returns: the number of rows the server stored.
    public func copyIn(_ sql: String, produce: () async throws -> [[String?]]?) async throws -> Int {
        try startCopy(sql)
        do {
            while let batch = try await produce() { try copyRows(batch) }
        } catch {
            abortCopy()
            throw error
        }
        return try finishCopy()
    }

    /// Starts `COPY … FROM STDIN`; send rows with ``copyRows(_:)``, then ``finishCopy()``
    /// (or ``abortCopy()``). Until then the connection accepts nothing else.
    public func startCopy(_ sql: String) throws {
        try beginCopy(sql, expecting: PGRES_COPY_IN)
        copyStatement = sql
    }

    /// Sends a COPY statement and checks that the server is now copying in the direction
    /// `status` says; the connection's handle.
    @discardableResult
    private func beginCopy(_ sql: String, expecting status: ExecStatusType) throws -> OpaquePointer {
        let conn = try liveHandle()
        let start = PQexec(conn, sql)
        defer { PQclear(start) }
        guard let start, PQresultStatus(start) == status else {
            if let start { throw Self.error(from: start, connection: conn, sql: sql) }
            throw connectionError(conn, sql: sql)
        }
        return conn
    }

    /// Sends rows of an open COPY, encoded in COPY text format.
    public func copyRows(_ rows: [[String?]]) throws {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(rows.count * 64)
        for row in rows { CopyText.appendRow(row, to: &buffer) }
        try sendCopyData(buffer)
    }

    /// Sends rows of an open COPY already encoded in COPY text format (``CopyText``), each
    /// ending in its newline.
    public func copyEncodedRows(_ bytes: [UInt8]) throws { try sendCopyData(bytes) }

    /// Ends an open COPY and returns the number of rows stored; throws the server's error
    /// (a bad value, a constraint) if the COPY failed.
    public func finishCopy() throws -> Int {
        let conn = try liveHandle()
        let sql = copyStatement ?? "COPY"
        copyStatement = nil
        guard PQputCopyEnd(conn, nil) == 1 else {
            throw PostgresError(
                code: PQstatus(conn) == CONNECTION_OK ? .copy : .connectionLost,
                message: Self.trimmed(PQerrorMessage(conn)) ?? "could not end COPY", statement: Self.summary(sql))
        }
        // Drain every result: the COPY's own status, then NULL.
        var failure: PostgresError?
        var stored = 0
        while let result = PQgetResult(conn) {
            if PQresultStatus(result) == PGRES_COMMAND_OK {
                stored = Self.affectedRows(result)
            } else if failure == nil {
                failure = Self.error(from: result, connection: conn, sql: sql)
            }
            PQclear(result)
        }
        if let failure { throw failure }
        return stored
    }

    /// Abandons an open COPY; the server keeps nothing from it.
    public func abortCopy() {
        guard let conn = try? liveHandle(), copyStatement != nil else { return }
        copyStatement = nil
        _ = PQputCopyEnd(conn, "aborted by the client")
        while let pending = PQgetResult(conn) { PQclear(pending) }
    }

    /// Reads the rows of `COPY (…) TO STDOUT` in text format, one line at a time (without its
    /// newline, still escaped: tab-separated, `\N` for NULL; see ``CopyText``), so that a
    /// large result is never held whole. The bytes are valid only during `body`.
    ///
    /// - Returns: the number of rows read.
    public func copyOut(_ sql: String, _ body: (UnsafeBufferPointer<UInt8>) throws -> Void) throws -> Int {
        let conn = try beginCopy(sql, expecting: PGRES_COPY_OUT)
        var rows = 0
        var failure: (any Error)?
        while true {
            var data: UnsafeMutablePointer<CChar>?
            let length = PQgetCopyData(conn, &data, 0)
            guard length >= 0, let data else { break }
            defer { PQfreemem(data) }
            // After a failure in `body`, the rest is read and dropped so the connection stays usable.
            guard failure == nil else { continue }
            let bytes = UnsafeRawPointer(data).assumingMemoryBound(to: UInt8.self)
            let line = UnsafeBufferPointer(start: bytes, count: Int(length) > 0 && bytes[Int(length) - 1] == 0x0A ? Int(length) - 1 : Int(length))
            do {
                try body(line)
                rows += 1
            } catch {
                failure = error
            }
        }
        var serverFailure: PostgresError?
        while let result = PQgetResult(conn) {
            if PQresultStatus(result) != PGRES_COMMAND_OK, serverFailure == nil {
                serverFailure = Self.error(from: result, connection: conn, sql: sql)
            }
            PQclear(result)
        }
        if let serverFailure { throw serverFailure }
        if let failure { throw failure }
        return rows
    }

    /// Sends one chunk; libpq takes a byte count, so this is the UTF-8 length, never `String.count`.
    private func sendCopyData(_ bytes: [UInt8]) throws {
        let conn = try liveHandle()
        guard !bytes.isEmpty else { return }
        let status = bytes.withUnsafeBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) {
                PQputCopyData(conn, $0, Int32(buffer.count))
            }
        }
        guard status == 1 else {
            throw PostgresError(
                code: PQstatus(conn) == CONNECTION_OK ? .copy : .connectionLost,
                message: Self.trimmed(PQerrorMessage(conn)) ?? "could not send COPY data",
                statement: copyStatement.map(Self.summary))
        }
    }
}

/// PostgreSQL's COPY text format: tab-separated, `\N` for NULL, backslash escapes.
public enum CopyText {
    /// Appends one row, with its newline, to `buffer`.
    public static func appendRow(_ row: [String?], to buffer: inout [UInt8]) {
        for (index, value) in row.enumerated() { appendField(value, to: &buffer, first: index == 0) }
        endRow(&buffer)
    }

    /// Appends one value of a row to `buffer`, escaped, after a tab unless it is the row's
    /// `first`; `nil` is NULL. A caller that knows its columns writes a row field by field
    /// this way, without building a list of them first (``appendRow(_:to:)``).
    public static func appendField(_ value: String?, to buffer: inout [UInt8], first: Bool = false) {
        if !first { buffer.append(0x09) }
        guard let value else {
            buffer.append(0x5C)  // \N
            buffer.append(0x4E)
            return
        }
        // Most values need no escape: copy them whole.
        let copied = value.utf8.withContiguousStorageIfAvailable { bytes -> Bool in
            guard !bytes.contains(where: { $0 == 0x5C || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }) else { return false }
            buffer.append(contentsOf: bytes)
            return true
        }
        if copied == true { return }
        for byte in value.utf8 {
            switch byte {
            case 0x5C: buffer.append(contentsOf: [0x5C, 0x5C])
            case 0x09: buffer.append(contentsOf: [0x5C, 0x74])
            case 0x0A: buffer.append(contentsOf: [0x5C, 0x6E])
            case 0x0D: buffer.append(contentsOf: [0x5C, 0x72])
            default: buffer.append(byte)
            }
        }
    }

    /// Appends `count` NULL values to `buffer`, each after a tab (none is a row's first).
    public static func appendNulls(_ count: Int, to buffer: inout [UInt8]) {
        for _ in 0..<count {
            buffer.append(0x09)
            buffer.append(0x5C)
            buffer.append(0x4E)
        }
    }

    /// Ends the row being written in `buffer`.
    public static func endRow(_ buffer: inout [UInt8]) { buffer.append(0x0A) }
}
