/// The rows a statement returned, read in full, plus the affected-row count.
public struct PostgresResult: Sendable {
    /// Column names in result order.
    public let columns: [String]
    /// Every row, in the order the server sent them.
    public let rows: [PostgresRow]
    /// Rows inserted, updated, deleted, copied or selected, as the command tag reports.
    public let affectedRows: Int
}

/// One result row. Values are read by column name with ``decode(_:as:)``, which names the
/// column in any error so a wrong type or an unexpected NULL is easy to find.
public struct PostgresRow: Sendable {
    let columnIndex: [String: Int]
    /// Values in text format; `nil` is SQL NULL.
    public let values: [String?]

    /// Reads the named column as `type`; throws a ``PostgresError`` naming the column when it
    /// is missing, NULL for a non-optional type, or not readable as `type`.
    public func decode<T: PostgresDecodable>(_ column: String, as type: T.Type = T.self) throws -> T {
        guard let index = columnIndex[column] else {
            throw PostgresError(code: .decoding, message: "no such column in the result", column: column)
        }
        return try T.decode(postgresText: values[index], column: column)
    }
}

extension PostgresResult {
    /// The only row, or `nil` when there are none; throws when there are several.
    public func singleRow() throws -> PostgresRow? {
        guard rows.count <= 1 else {
            throw PostgresError(code: .decoding, message: "expected at most one row, got \(rows.count)")
        }
        return rows.first
    }

    /// The first column of the only row, decoded as `type`.
    public func scalar<T: PostgresDecodable>(as type: T.Type = T.self) throws -> T {
        guard let row = try singleRow(), let column = columns.first else {
            throw PostgresError(code: .decoding, message: "expected one row with one column, got none")
        }
        return try row.decode(column, as: type)
    }
}
