import Postgres

/// Pupils' results read a batch of pupils at a time, in the order of the unique index on
/// (pupil, instrument, subject, measure, date): memory stays bounded however large the trust,
/// and the server sorts nothing.
///
/// A batch is a range of pupil ids. When the pupils wanted are most of the ids in the range
/// (a trust's pupils, one school's imported together) the range alone selects them and the
/// few others are skipped by the reader; when they are scattered, the ids are sent too.
struct PupilBatches {
    /// The pupils wanted, in id order.
    let ids: [Int64]
    let size: Int

    struct Batch {
        let first: Int64
        let last: Int64
        /// The ids, when the range holds many pupils not wanted; nil when the range will do.
        let only: [String]?
    }

    var batches: [Batch] {
        stride(from: 0, to: ids.count, by: size).map { start in
            let slice = ids[start..<min(start + size, ids.count)]
            let (first, last) = (slice.first ?? 0, slice.last ?? 0)
            let dense = last - first < 2 * Int64(slice.count)
            return Batch(first: first, last: last, only: dense ? nil : slice.map(String.init))
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
