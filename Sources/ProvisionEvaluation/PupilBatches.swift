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

    /// Calls `body` with each page of the pupils `select` lists, and the results `results`
    /// selects for that page's batch, both read in place (``PostgresCells``). `select` must
    /// return `id` first and take `$1` (list only ids above it), `$2` (the most to list) and
    /// `$3` (list only ids up to it) before `parameters`.
    ///
    /// The next page and its results are read while `body` takes the page before: the server
    /// reads and this process judges at the same time, instead of each waiting for the other
    /// (`body` must not use `db` or `helpers`).
    ///
    /// With `helpers` (connections in transactions on `db`'s snapshot, which see what it
    /// sees), the pupils' ids are cut into as many equal ranges as there are connections, each
    /// read on its own, and `body` takes their pages in turn, one at a time. A page's wait was
    /// most of a pass: the peer comparison of a 60,000-pupil trust spent 0.4 s of its 0.66 s
    /// waiting for the server to read and send the next page, while `body` took 20–40 ms of
    /// each 70 ms.
    ///
    /// Must run in transactions: the pages are read with ``pageSettings``, and each
    /// transaction's settings are put back when the last page has been read.
    static func forEachPage(
        _ db: PostgresConnection, helpers: [PostgresConnection] = [], size: Int, _ select: String,
        _ parameters: [any PostgresEncodable],
        results: @escaping @Sendable (Batch) -> (sql: String, parameters: [any PostgresEncodable]),
        _ body: (_ page: PostgresCells, _ results: PostgresCells) async throws -> Void
    ) async throws {
        let connections = [db] + helpers
        var kept: [[String]] = []
        for connection in connections {
            var values: [String] = []
            for (name, value) in pageSettings {
                values.append(try await connection.query("SELECT current_setting($1)", name).scalar(as: String.self))
                try await connection.execute("SELECT set_config($1, $2, true)", name, value)
            }
            kept.append(values)
        }
        var ranges = [(first: Int64(1), last: Int64.max)]
        if !helpers.isEmpty,
           let bounds = try await db.query("SELECT min(id) AS first, max(id) AS last FROM pupils").singleRow(),
           let first = try bounds.decode("first", as: Int64?.self), let last = try bounds.decode("last", as: Int64?.self) {
            ranges = split(first...last, into: connections.count)
        }
        try await readPages(
            Array(zip(connections, ranges).map { ($0, $1.first, $1.last) }), size: size, select, parameters, results: results, body)
        for (connection, values) in zip(connections, kept) {
            for ((name, _), value) in zip(pageSettings, values) {
                try await connection.execute("SELECT set_config($1, $2, true)", name, value)
            }
        }
    }

    /// How each connection's transaction reads the pages, put back when they are read.
    ///
    /// Without parallel plans: a page is a slice of the pupils, yet right after an import
    /// (before autovacuum had been by) the planner chose a parallel scan of every result of
    /// the deployment for each page (88–115 ms a page against 34 ms for a bitmap scan of the
    /// page's pupils), three processes' work where the pass already keeps two cores busy.
    ///
    /// Walking the index: a page's range looks to the planner like scattered reads, so it chose
    /// a bitmap scan and a sort (to disk, past work_mem) of rows that lie in pupil order
    /// anyway: 37 ms a page of 5,000 pupils against 19.
    static let pageSettings = [("max_parallel_workers_per_gather", "0"), ("enable_bitmapscan", "off")]

    /// `ids` cut into `count` ranges of (nearly) equal width, in order; fewer when there are
    /// fewer ids than that.
    static func split(_ ids: ClosedRange<Int64>, into count: Int) -> [(first: Int64, last: Int64)] {
        let width = (ids.upperBound - ids.lowerBound) / Int64(count) + 1
        return stride(from: ids.lowerBound, through: ids.upperBound, by: Int(width)).map { first in
            (first, first + min(width - 1, ids.upperBound - first))
        }
    }

    private typealias Page = (page: PostgresCells, results: PostgresCells)

    private static func readPages(
        _ ranges: [(connection: PostgresConnection, first: Int64, last: Int64)], size: Int, _ select: String,
        _ parameters: [any PostgresEncodable],
        results: @escaping @Sendable (Batch) -> (sql: String, parameters: [any PostgresEncodable]),
        _ body: (_ page: PostgresCells, _ results: PostgresCells) async throws -> Void
    ) async throws {
        @Sendable func read(_ db: PostgresConnection, after: Int64, upTo last: Int64) async throws -> Page? {
            let page = try await db.queryCells(select, [after, size, last] + parameters)
            guard page.rowCount > 0 else { return nil }
            let query = results(batch(try (0..<page.rowCount).map { try page.int64($0, 0) }))
            return (page, try await db.queryCells(query.sql, query.parameters))
        }
        // Each range's next page, read on its own connection; `body` takes the ranges' pages
        // in turn.
        var readers = ranges.map { range in
            (connection: range.connection, last: range.last,
             next: Task { try await read(range.connection, after: range.first - 1, upTo: range.last) })
        }
        var turn = 0
        // A failed page still waits for the reads in flight: the connections are the caller's.
        do {
            while !readers.isEmpty {
                turn %= readers.count
                guard let current = try await readers[turn].next.value else {
                    readers.remove(at: turn)
                    continue
                }
                if current.page.rowCount == size {
                    let (connection, last) = (readers[turn].connection, readers[turn].last)
                    let after = try current.page.int64(current.page.rowCount - 1, 0)
                    readers[turn].next = Task { try await read(connection, after: after, upTo: last) }
                    turn += 1
                } else {
                    readers.remove(at: turn)
                }
                try await body(current.page, current.results)
            }
        } catch {
            for reader in readers { _ = try? await reader.next.value }
            throw error
        }
    }

    /// The condition on `column` selecting a batch, with its parameters numbered from `next`.
    static func condition(_ column: String, from next: Int) -> String {
        "\(column) BETWEEN $\(next) AND $\(next + 1) AND ($\(next + 2)::bigint[] IS NULL OR \(column) = ANY($\(next + 2)::bigint[]))"
    }
}
