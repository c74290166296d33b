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
/// 1970 to the date of birth; judged: 1 when the stall rule judges the pupil), and its
/// results as `pupil_id, instrument, subject, measure, value, day`, in pupil and then test
/// and date order: every result up to the day evaluated, and the results near a peer
/// window's dates after it.
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
        try await PupilBatches.forEachPage(
            db, helpers: helpers, size: pageSize,
            """
            SELECT p.id, p.school_id, (p.dob - DATE '1970-01-01') AS born, coalesce(p.year_group, '') AS year_group,
                   (p.on_roll AND p.dob IS NOT NULL AND p.school_id = ANY($4::bigint[]))::int AS judged
              FROM pupils p
             WHERE p.id > $1 AND p.id <= $3
               AND ((p.on_roll AND p.dob IS NOT NULL AND p.school_id = ANY($4::bigint[]))
                    OR coalesce(p.year_group, '') = ANY($5::text[]))
             ORDER BY p.id LIMIT $2
            """, [schools, peers?.yearGroups ?? []],
            results: { [windowDays = (peers?.windowDays ?? []).map(String.init)] batch in
                ("""
                SELECT a.pupil_id, a.instrument, a.subject, a.measure, a.value, (a.assessed_on - DATE '1970-01-01') AS day
                  FROM assessments a
                 WHERE \(PupilBatches.condition("a.pupil_id", from: 1))
                   AND (a.assessed_on <= $4::date
                        OR a.assessed_on <@ (SELECT range_agg(daterange(DATE '1970-01-01' + d - 14, DATE '1970-01-01' + d + 14, '[]'))
                                               FROM unnest($5::int[]) AS d))
                 ORDER BY a.pupil_id, a.instrument, a.subject, a.measure, a.assessed_on
                """, [batch.first, batch.last, batch.only, asOf.iso, windowDays])
            }
        ) { page, rows in
            let series = try PageSeries(page: page, rows: rows)
            // The two rules' work on a page is independent: on two cores, side by side.
            async let stalls = StallDetection.judge(page: page, rows: rows, series: series, starts: starts, asOf: asOf, settings: settings)
            if let peers { try PeerComparison.addGains(peers, page: page, rows: rows, series: series, to: &found.gains) }
            found.stalls.add(try await stalls)
        }
        return found
    }
}

/// A page of the results pass cut into each pupil's series (their results on one test, in
/// date order), in one walk for both rules: the page's pupils and the results are both in id
/// order, and a result begins a new series when its instrument, subject or measure differs
/// from the series' first row (the cells compared in place: no strings are made for them).
struct PageSeries: Sendable {
    /// By row of the page: the numbers (in `rows`) of that pupil's series; empty when the pupil
    /// has no results.
    let ofPupil: [Range<Int>]
    /// Each series' rows in the page's results.
    let rows: [Range<Int>]

    init(page: PostgresCells, rows results: PostgresCells) throws {
        var ofPupil = [Range<Int>](repeating: 0..<0, count: page.rowCount)
        var rows: [Range<Int>] = []
        var next = 0  // the page's next pupil not yet met
        var pupil: (id: Int64, row: Int?)?  // the current results' pupil, and their row in the page
        var firstSeries = 0
        var seriesStart = 0
        func close(at row: Int) {
            guard let pageRow = pupil?.row else { return }
            rows.append(seriesStart..<row)
            ofPupil[pageRow] = firstSeries..<rows.count
        }
        for row in 0..<results.rowCount {
            let id = try results.int64(row, 0)
            if id != pupil?.id {
                close(at: row)
                while next < page.rowCount, try page.int64(next, 0) < id { next += 1 }
                // Results of a pupil not in the page are passed over.
                let found = try next < page.rowCount && page.int64(next, 0) == id
                pupil = (id, found ? next : nil)
                if found { next += 1 }
                (firstSeries, seriesStart) = (rows.count, row)
            } else if pupil?.row != nil,
                try !results.same(1, row, seriesStart) || !results.same(2, row, seriesStart) || !results.same(3, row, seriesStart)
            {
                rows.append(seriesStart..<row)
                seriesStart = row
            }
        }
        close(at: results.rowCount)
        (self.ofPupil, self.rows) = (ofPupil, rows)
    }
}
