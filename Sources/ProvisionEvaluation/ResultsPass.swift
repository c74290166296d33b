import Postgres
import ProvisionConfig
import ProvisionModel

/// The evaluation's one read of everyone's results, a page of pupils at a time
/// (``PupilBatches``), for the two rules that need whole histories rather than a few rows:
/// the stall rule judges the pupils on roll at the schools evaluated (``StallDetection``),
/// and the peer comparison finds the gains of the pupils of the enrolled year groups
/// (``PeerComparison``).
///
/// Each read its own pages before: the results of a 60,000-pupil trust were read three times
/// (the stall pass, and the peer comparison's on two connections), 2.6 s of the server's time
/// where the hand-written aggregate that is the benchmark's baseline reads them once in about
/// 0.5 s. Now both take each page, side by side, and the pages cost the server 0.8 s.
///
/// A page lists its pupils as `id, school_id, born, year_group, judged` (born: days from
/// 1970 to the date of birth; year_group: its place in the peer plan's year groups, from 0,
/// null for any other; judged: 1 when the stall rule judges the pupil), and its
/// results as `pupil_id, test_id, value, day`, in pupil and then test and date order: every
/// result up to the day evaluated, and the results near a peer window's dates after it.
/// The tests' names are read once, beside (``ResultTest/all(_:)``).
enum ResultsPass {
    struct Found {
        var stalls = StallDetection.Findings()
        /// Each window's non-participants' gains, by the peer plan's window number.
        var gains: [[PeerComparison.Gain]]
    }

    /// Reads the pass on `db` (in a transaction), and on `helpers` beside it (on `db`'s
    /// snapshot): stalls among the pupils on roll at `schools`, gains for `peers`.
    static func run(
        _ db: PostgresConnection, helpers: [PostgresConnection] = [], schools: [String], peers: PeerComparison.Plan?,
        asOf: SchoolDate, settings: Configuration.Evaluation, pageSize: Int
    ) async throws -> Found {
        var found = Found(gains: Array(repeating: [], count: peers?.windowNumber.count ?? 0))
        guard !schools.isEmpty || peers != nil else { return found }
        let starts = StallDetection.candidateStarts(before: asOf)
        let tests = try await ResultTest.all(db)
        try await PupilBatches.forEachPage(
            db, helpers: helpers, size: pageSize,
            """
            SELECT p.id, p.school_id, (p.dob - DATE '1970-01-01') AS born,
                   array_position($5::text[], coalesce(p.year_group, '')) - 1 AS year_group,
                   (p.on_roll AND p.dob IS NOT NULL AND p.school_id = ANY($4::bigint[]))::int AS judged
              FROM pupils p
             WHERE p.id > $1 AND p.id <= $3
               AND ((p.on_roll AND p.dob IS NOT NULL AND p.school_id = ANY($4::bigint[]))
                    OR coalesce(p.year_group, '') = ANY($5::text[]))
             ORDER BY p.id LIMIT $2
            """, [schools, peers?.yearGroups ?? []],
            results: { [windowDays = (peers?.windowDays ?? []).map(String.init)] batch in
                ("""
                SELECT a.pupil_id, a.test_id, a.value, (a.assessed_on - DATE '1970-01-01') AS day
                  FROM results a
                 WHERE \(PupilBatches.condition("a.pupil_id", from: 1))
                   AND (a.assessed_on <= $4::date
                        OR a.assessed_on <@ (SELECT range_agg(daterange(DATE '1970-01-01' + d - 14, DATE '1970-01-01' + d + 14, '[]'))
                                               FROM unnest($5::int[]) AS d))
                 ORDER BY a.pupil_id, a.test_id, a.assessed_on
                """, [batch.first, batch.last, batch.only, asOf.iso, windowDays])
            }
        ) { page, rows in
            let series = try PageSeries(page: page, rows: rows, tests: tests)
            // The two rules' work on a page is independent: on two cores, side by side.
            async let stalls = StallDetection.judge(page: page, rows: rows, series: series, starts: starts, asOf: asOf, settings: settings)
            if let peers { try PeerComparison.addGains(peers, page: page, rows: rows, series: series, to: &found.gains) }
            found.stalls.add(try await stalls)
        }
        return found
    }
}

extension ResultTest {
    /// Every test by id, with its place in the order of the tests' names.
    static func all(_ db: PostgresConnection) async throws -> [Int: (test: ResultTest, place: Int)] {
        var tests: [Int: (test: ResultTest, place: Int)] = [:]
        let rows = try await db.query(
            "SELECT id, instrument, subject, measure FROM result_tests ORDER BY instrument, subject, measure"
        ).rows
        for (place, row) in rows.enumerated() {
            let test = ResultTest(instrument: try row.decode("instrument"), subject: try row.decode("subject"), measure: try row.decode("measure"))
            tests[try row.decode("id")] = (test, place)
        }
        return tests
    }
}

/// A page of the results pass cut into each pupil's series (their results on one test, in
/// date order), in one walk for both rules: the page's pupils and the results are both in id
/// order, and a result begins a new series when its test differs from the series' first row.
struct PageSeries: Sendable {
    /// By row of the page: the numbers (in `rows`) of that pupil's series, in the order of
    /// their tests' names; empty when the pupil has no results.
    let ofPupil: [Range<Int>]
    /// Each series' rows in the page's results.
    let rows: [Range<Int>]
    /// Each series' test.
    let test: [ResultTest]

    /// `tests`: every test, by id (``ResultTest/all(_:)``).
    init(page: PostgresCells, rows results: PostgresCells, tests: [Int: (test: ResultTest, place: Int)]) throws {
        var ofPupil = [Range<Int>](repeating: 0..<0, count: page.rowCount)
        var rows: [Range<Int>] = []
        var test: [ResultTest] = []
        var place: [Int] = []
        var next = 0  // the page's next pupil not yet met
        var pupil: (id: Int64, row: Int?)?  // the current results' pupil, and their row in the page
        var firstSeries = 0
        var seriesStart = 0
        func append(_ range: Range<Int>) throws {
            guard let found = tests[try results.int(range.lowerBound, 1)] else {
                throw PostgresError(
                    code: .decoding, message: "a result names test \(try results.int(range.lowerBound, 1)), which result_tests does not list")
            }
            rows.append(range)
            test.append(found.test)
            place.append(found.place)
        }
        // A pupil's series in the order of their tests' names, as reasons list them (the ids
        // are in the order the tests were first met).
        func close(at row: Int) throws {
            guard let pageRow = pupil?.row else { return }
            try append(seriesStart..<row)
            let own = firstSeries..<rows.count
            if own.count > 1, zip(own.dropLast(), own.dropFirst()).contains(where: { place[$0] > place[$1] }) {
                let order = own.sorted { place[$0] < place[$1] }
                (rows[own], test[own], place[own]) = (ArraySlice(order.map { rows[$0] }), ArraySlice(order.map { test[$0] }),
                                                      ArraySlice(order.map { place[$0] }))
            }
            ofPupil[pageRow] = own
        }
        for row in 0..<results.rowCount {
            let id = try results.int64(row, 0)
            if id != pupil?.id {
                try close(at: row)
                while next < page.rowCount, try page.int64(next, 0) < id { next += 1 }
                // Results of a pupil not in the page are passed over.
                let found = try next < page.rowCount && page.int64(next, 0) == id
                pupil = (id, found ? next : nil)
                if found { next += 1 }
                (firstSeries, seriesStart) = (rows.count, row)
            } else if pupil?.row != nil, try !results.same(1, row, seriesStart) {
                try append(seriesStart..<row)
                seriesStart = row
            }
        }
        try close(at: results.rowCount)
        (self.ofPupil, self.rows, self.test) = (ofPupil, rows, test)
    }
}
