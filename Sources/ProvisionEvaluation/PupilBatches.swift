import Postgres

/// Pupils' results read a page of pupils at a time, in the order of the unique index on
/// (pupil, instrument, subject, measure, date): memory stays bounded however large the
/// deployment (the pupils are listed a page at a time too), and the server sorts nothing.
///
/// A page's results are selected by the range of its pupil ids. When the pupils wanted are
/// most of the ids in the range (a trust's pupils, one school's imported together) the range
/// alone selects them and the few others are skipped by the reader; when they are scattered,
/// the ids are sent too.
struct PupilBatches {
    /// Pupils per page.
    static let pageSize = 5000

    struct Batch {
        let first: Int64
        let last: Int64
        /// The ids, when the range holds many pupils not wanted; nil when the range will do.
        let only: [String]?
    }

    /// The batch of `ids` (in id order).
    static func batch(_ ids: [Int64]) -> Batch {
        let (first, last) = (ids.first ?? 0, ids.last ?? 0)
        let dense = last - first < 2 * Int64(ids.count)
        return Batch(first: first, last: last, only: dense ? nil : ids.map(String.init))
    }

    /// Calls `body` with each page of the pupils `select` lists, in id order. `select` must
    /// return `id` and take `$1` (list only ids above it) and `$2` (the most to list) before
    /// `parameters`.
    static func forEachPage(
        _ db: PostgresConnection, size: Int, _ select: String, _ parameters: [any PostgresEncodable],
        _ body: ([PostgresRow]) async throws -> Void
    ) async throws {
        var after: Int64 = 0
        while true {
            let page = try await db.query(select, [after, size] + parameters).rows
            guard let last = page.last else { return }
            try await body(page)
            after = try last.decode("id")
            if page.count < size { return }
        }
    }

    /// The condition on `column` selecting a batch, with its parameters numbered from `next`.
    static func condition(_ column: String, from next: Int) -> String {
        "\(column) BETWEEN $\(next) AND $\(next + 1) AND ($\(next + 2)::bigint[] IS NULL OR \(column) = ANY($\(next + 2)::bigint[]))"
    }
}

extension PostgresRow {
    /// The value at `column` (by position), read as `T`: for the streamed passes, where a
    /// lookup by name in every row of hundreds of thousands costs more than the work.
    func number<T: LosslessStringConvertible>(_ column: Int, as: T.Type = T.self) throws -> T {
        guard column < values.count, let text = values[column], let value = T(text) else {
            throw EvaluationError("unexpected value in column \(column + 1) of a streamed result")
        }
        return value
    }

    /// The text at `column` (by position).
    func text(_ column: Int) throws -> String {
        guard column < values.count, let text = values[column] else {
            throw EvaluationError("unexpected NULL in column \(column + 1) of a streamed result")
        }
        return text
    }
}
