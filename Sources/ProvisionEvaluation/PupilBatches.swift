import Postgres

/// Pupils' results read a page of pupils at a time: memory stays bounded however large the
/// deployment (the pupils are listed a page at a time too).
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

    /// Calls `body` with each page of the pupils `select` lists, in id order, and the
    /// results `results` selects for that page's batch, both read in place (``PostgresCells``).
    /// `select` must return `id` first and take `$1` (list only ids above it) and `$2` (the
    /// most to list) before `parameters`.
    ///
    /// The next page and its results are read while `body` takes the page before: the server
    /// reads and this process judges at the same time, instead of each waiting for the other
    /// (`body` must not use `db`).
    ///
    /// Must run in a transaction: the pages are read without parallel plans, and the
    /// transaction's setting is put back when the last page has been read.
    /// A page is a slice of the pupils, yet right after an import (before autovacuum had been
    /// by) the planner chose a parallel scan of every result of the deployment for each page
    /// of the peer comparison (88–115 ms a page against 34 ms for a bitmap scan of the page's
    /// pupils), three processes' work where the evaluation's two passes already keep two
    /// cores busy.
    static func forEachPage(
        _ db: PostgresConnection, size: Int, _ select: String, _ parameters: [any PostgresEncodable],
        results: @escaping @Sendable (Batch) -> (sql: String, parameters: [any PostgresEncodable]),
        _ body: (_ page: PostgresCells, _ results: PostgresCells) async throws -> Void
    ) async throws {
        let workers = try await db.query("SELECT current_setting('max_parallel_workers_per_gather')").scalar(as: String.self)
        try await db.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        try await readPages(db, size: size, select, parameters, results: results, body)
        try await db.execute("SELECT set_config('max_parallel_workers_per_gather', $1, true)", workers)
    }

    private static func readPages(
        _ db: PostgresConnection, size: Int, _ select: String, _ parameters: [any PostgresEncodable],
        results: @escaping @Sendable (Batch) -> (sql: String, parameters: [any PostgresEncodable]),
        _ body: (_ page: PostgresCells, _ results: PostgresCells) async throws -> Void
    ) async throws {
        @Sendable func read(after: Int64) async throws -> (page: PostgresCells, results: PostgresCells)? {
            let page = try await db.queryCells(select, [after, size] + parameters)
            guard page.rowCount > 0 else { return nil }
            let query = results(batch(try (0..<page.rowCount).map { try page.int64($0, 0) }))
            return (page, try await db.queryCells(query.sql, query.parameters))
        }
        var next = Task { try await read(after: 0) }
        // A failed page still waits for the read in flight: the connection is the caller's.
        do {
            while let current = try await next.value {
                let more = current.page.rowCount == size
                if more {
                    let after = try current.page.int64(current.page.rowCount - 1, 0)
                    next = Task { try await read(after: after) }
                }
                try await body(current.page, current.results)
                if !more { return }
            }
        } catch {
            _ = try? await next.value
            throw error
        }
    }

    /// The condition on `column` selecting a batch, with its parameters numbered from `next`.
    static func condition(_ column: String, from next: Int) -> String {
        "\(column) BETWEEN $\(next) AND $\(next + 1) AND ($\(next + 2)::bigint[] IS NULL OR \(column) = ANY($\(next + 2)::bigint[]))"
    }
}
