import CLibPQ
import Foundation

/// The rows of a statement read in place, cell by cell, from libpq's own copy of them.
///
/// ``PostgresResult`` makes a `String` of every cell, which is what most callers want. A pass
/// over hundreds of thousands of rows (the evaluation reads every pupil's results) spent more
/// on those strings and their arrays than on its own arithmetic: here numbers are parsed from
/// the server's text where it lies, and cells are compared without being copied.
///
/// Cells are addressed by row and column position. Every read checks both, and a NULL or a
/// value that is not a number is an error naming the cell, never a default.
public final class PostgresCells: Sendable {
    /// libpq's result. Never changed once made, so reading it from any thread is safe; it is
    /// freed when the last reference goes.
    private nonisolated(unsafe) let result: OpaquePointer
    /// Rows in the result.
    public let rowCount: Int
    /// Columns in each row.
    public let columnCount: Int

    init(taking result: OpaquePointer) {
        self.result = result
        rowCount = Int(PQntuples(result))
        columnCount = Int(PQnfields(result))
    }

    deinit { PQclear(result) }

    /// Whether the cell is SQL NULL.
    public func isNull(_ row: Int, _ column: Int) throws -> Bool {
        try checkPosition(row, column)
        return PQgetisnull(result, Int32(row), Int32(column)) == 1
    }

    /// The cell as text.
    public func text(_ row: Int, _ column: Int) throws -> String {
        String(cString: try pointer(row, column))
    }

    /// The cell as a whole number (`int2`, `int4`, `int8`), parsed where it lies.
    public func int64(_ row: Int, _ column: Int) throws -> Int64 {
        let start = try pointer(row, column)
        var cursor = start
        let negative = cursor.pointee == 0x2D  // "-"
        if negative { cursor += 1 }
        // Summed below zero, which reaches one further than above it (Int64.min).
        var value: Int64 = 0
        var digits = 0
        while case let digit = cursor.pointee, digit >= 0x30, digit <= 0x39 {
            let (shifted, overflowA) = value.multipliedReportingOverflow(by: 10)
            let (next, overflowB) = shifted.subtractingReportingOverflow(Int64(digit - 0x30))
            guard !overflowA, !overflowB else { throw notA("whole number", row, column) }
            value = next
            digits += 1
            cursor += 1
        }
        guard digits > 0, cursor.pointee == 0, negative || value != Int64.min else { throw notA("whole number", row, column) }
        return negative ? value : -value
    }

    /// The cell as a whole number (`int2`, `int4`, `int8`).
    public func int(_ row: Int, _ column: Int) throws -> Int {
        Int(try int64(row, column))
    }

    /// The cell as a `Double`: `float8`, or a `numeric` read from its own text (to the same
    /// value as the server's `::float8`, which prints and parses it too).
    public func double(_ row: Int, _ column: Int) throws -> Double {
        let start = try pointer(row, column)
        if let value = Self.shortDecimal(start) { return value }
        // Short numbers make small strings, which are not allocated.
        guard let value = Double(String(cString: start)) else { throw notA("number", row, column) }
        return value
    }

    /// A plain decimal of at most 15 digits ("102", "-12.25"), which is most results' values,
    /// computed exactly as `strtod` rounds it, or nil for anything else (parsed by `strtod`).
    ///
    /// The digits as a whole number are below 2^53 and so exact in a `Double`, as is 10^k for
    /// k ≤ 22; one IEEE division of the two is correctly rounded, as `strtod` is (Clinger's
    /// fast path). `strtod` was a tenth of this process's CPU in an evaluation.
    static func shortDecimal(_ text: UnsafePointer<CChar>) -> Double? {
        var cursor = text
        let negative = cursor.pointee == 0x2D  // "-"
        if negative { cursor += 1 }
        var whole: UInt64 = 0
        var digits = 0
        var fractionDigits = 0
        var inFraction = false
        while true {
            let byte = UInt8(bitPattern: cursor.pointee)
            if byte >= 0x30, byte <= 0x39 {
                digits += 1
                guard digits <= 15 else { return nil }
                whole = whole * 10 + UInt64(byte - 0x30)
                if inFraction { fractionDigits += 1 }
            } else if byte == 0x2E, !inFraction {  // "."
                inFraction = true
            } else if byte == 0 {
                break
            } else {
                return nil
            }
            cursor += 1
        }
        guard digits > 0 else { return nil }
        let value = Double(whole) / exactPowersOfTen[fractionDigits]
        return negative ? -value : value
    }

    /// 10^0 … 10^15, each exact in a `Double`.
    private static let exactPowersOfTen: [Double] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15]

    /// Whether the cells at `column` of two rows hold the same text (NULL equals only NULL).
    public func same(_ column: Int, _ row: Int, _ other: Int) throws -> Bool {
        // Called for every row of a pass: both positions are checked once, by isNull.
        let (a, b) = (try isNull(row, column), try isNull(other, column))
        if a || b { return a == b }
        let (r, o, c) = (Int32(row), Int32(other), Int32(column))
        let length = PQgetlength(result, r, c)
        guard length == PQgetlength(result, o, c) else { return false }
        return memcmp(PQgetvalue(result, r, c), PQgetvalue(result, o, c), Int(length)) == 0
    }

    private func checkPosition(_ row: Int, _ column: Int) throws {
        guard row >= 0, row < rowCount, column >= 0, column < columnCount else {
            throw PostgresError(
                code: .decoding, message: "no cell at row \(row + 1), column \(column + 1) (\(rowCount) × \(columnCount))")
        }
    }

    private func pointer(_ row: Int, _ column: Int) throws -> UnsafePointer<CChar> {
        guard !(try isNull(row, column)), let value = PQgetvalue(result, Int32(row), Int32(column)) else {
            throw PostgresError(code: .decoding, message: "unexpected NULL at row \(row + 1)", column: columnName(column))
        }
        return UnsafePointer(value)
    }

    private func notA(_ kind: String, _ row: Int, _ column: Int) -> PostgresError {
        // The value itself is not quoted: it may be a pupil's data.
        PostgresError(code: .decoding, message: "the value at row \(row + 1) is not a \(kind)", column: columnName(column))
    }

    private func columnName(_ column: Int) -> String {
        PQfname(result, Int32(column)).map { String(cString: $0) } ?? "column \(column + 1)"
    }
}

extension PostgresConnection {
    /// Runs one statement with its parameters and returns its rows to be read in place
    /// (``PostgresCells``): for large passes; ``query(_:_:)-(_,[any PostgresEncodable])``
    /// otherwise.
    public func queryCells(_ sql: String, _ parameters: [any PostgresEncodable] = []) throws -> PostgresCells {
        PostgresCells(taking: try exec(sql, parameters))
    }
}
