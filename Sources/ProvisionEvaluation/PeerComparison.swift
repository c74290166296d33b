import Foundation
import Postgres
import ProvisionModel

/// The comparison of each enrolment with pupils who were not in it (DESIGN §6): the median
/// gain of its school's pupils of the same year group over the same dates ("peers"), and the
/// median gain of pupils anywhere in the trust, same year group, who started from a similar
/// score ("matched", against regression to the mean).
///
/// A non-participant's gain over a window is their result within 14 days of its exit date
/// minus their result within 14 days of its entry date, on the same test. Pupils in an
/// intervention with that outcome over those dates are never anyone's peer.
///
/// The evaluation's one pass over everyone's results (``ResultsPass``) finds every
/// non-participant's gains, page by page, as it finds stalls; the medians are taken in
/// memory, and the two figures per enrolment are written to `eval_enrolment`. (In SQL, each
/// window joined every pupil of its year group and probed their results: 3.5 s of a
/// 60,000-pupil trust's 4.5 s evaluation.)
enum PeerComparison {
    typealias Test = ResultTest

    struct Dates: Hashable {
        let entry: Int
        let exit: Int
    }

    struct Window: Hashable {
        let test: Test
        let dates: Dates
        let yearGroup: String
    }

    struct Enrolment {
        let id: Int64
        let school: Int64
        let pupil: Int64
        let window: Window
        let low: Double
        let high: Double
    }

    /// A pupil's results on one test (numbered as the query's list of tests).
    struct PupilTest: Hashable {
        let pupil: Int64
        let test: Int
    }

    /// A non-participant's gain over one window.
    struct Gain {
        let school: Int64
        let entry: Double
        let gain: Double
    }

    /// Who is no one's peer for a window: a pupil in an intervention with that outcome
    /// (instrument and measure) over any of its dates, and its participants.
    struct SpanKey: Hashable {
        let test: Int
        let dates: Dates
    }

    /// What the pass over everyone's results (``ResultsPass``) needs to find the
    /// non-participants' gains, read once before it: the enrolments' windows, numbered, and
    /// who is no one's peer for which.
    ///
    /// The inner loops run for every pupil's series and every gain, so they work with numbers
    /// for the tests, year groups and windows, found here once. (Hashing a test's three strings
    /// and a year group for every series, and a window for every gain, was a third of the
    /// pass's own CPU at a million pupils.)
    struct Plan: Sendable {
        let enrolments: [Enrolment]
        let testNumber: [Test: Int]
        /// The year groups of the enrolled pupils: whose results are read.
        /// The pass's pages number each pupil's year group by its place here (``ResultsPass``).
        let yearGroups: [String]
        /// Each window is numbered in the order it is met (no two are equal: a test and year
        /// group's dates are a set).
        let windowNumber: [Window: Int]
        /// The windows of test t and year group y, at t * yearGroups.count + y.
        let needed: [[(dates: Dates, window: Int)]]
        /// Every window's entry and exit day: results near them are what the pass must read.
        let windowDays: [Int]
        let participants: [Int64: Set<SpanKey>]
        let enrolled: [Int64: [(tests: [Int], start: Int, end: Int?)]]

        /// Whether a pupil with these windows (`participants`) and enrolments (`enrolled`) of
        /// theirs is a peer on `test` over `dates`. Both are looked up once per pupil: most
        /// pupils are in neither, and every one of them is a peer.
        static func isPeer(
            _ windows: Set<SpanKey>?, _ enrolments: [(tests: [Int], start: Int, end: Int?)]?, _ test: Int, _ dates: Dates
        ) -> Bool {
            if windows?.contains(SpanKey(test: test, dates: dates)) == true { return false }
            for e in enrolments ?? [] where e.tests.contains(test) {
                if e.start <= dates.exit && (e.end ?? dates.exit) >= dates.entry { return false }
            }
            return true
        }
    }

    /// The plan for the enrolments in `eval_enrolment` on `db` with both an entry and an exit;
    /// nil when there are none.
    static func plan(_ db: PostgresConnection) async throws -> Plan? {
        let enrolments = try await db.query(
            """
            SELECT enrolment_id, school_id, pupil_id, instrument, subject, measure, year_group,
                   (entry_date - DATE '1970-01-01') AS entry_day, (exit_date - DATE '1970-01-01') AS exit_day,
                   (entry_value - band)::float8 AS low, (entry_value + band)::float8 AS high
              FROM eval_enrolment WHERE exit_date IS NOT NULL AND entry_date IS NOT NULL
            """
        ).rows.map { row in
            Enrolment(
                id: try row.decode("enrolment_id"), school: try row.decode("school_id"), pupil: try row.decode("pupil_id"),
                window: Window(
                    test: Test(instrument: try row.decode("instrument"), subject: try row.decode("subject"), measure: try row.decode("measure")),
                    dates: Dates(entry: try row.decode("entry_day"), exit: try row.decode("exit_day")),
                    yearGroup: try row.decode("year_group")),
                low: try row.decode("low"), high: try row.decode("high"))
        }
        guard !enrolments.isEmpty else { return nil }

        // Which windows each test and year group needs.
        var windows: [Test: [String: Set<Dates>]] = [:]
        for enrolment in enrolments {
            windows[enrolment.window.test, default: [:]][enrolment.window.yearGroup, default: []].insert(enrolment.window.dates)
        }
        let yearGroups = Array(Set(enrolments.map(\.window.yearGroup)))
        let windowDays = Array(Set(enrolments.flatMap { [$0.window.dates.entry, $0.window.dates.exit] }))
        let tests = Array(windows.keys)
        let testNumber = Dictionary(uniqueKeysWithValues: tests.enumerated().map { ($1, $0) })
        let yearGroupNumber = Dictionary(uniqueKeysWithValues: yearGroups.enumerated().map { ($1, $0) })
        var windowNumber: [Window: Int] = [:]
        var needed = [[(dates: Dates, window: Int)]](repeating: [], count: tests.count * yearGroups.count)
        for (test, byYearGroup) in windows {
            for (yearGroup, allDates) in byYearGroup {
                guard let t = testNumber[test], let y = yearGroupNumber[yearGroup] else { continue }
                for dates in allDates {
                    let number = windowNumber.count
                    windowNumber[Window(test: test, dates: dates, yearGroup: yearGroup)] = number
                    needed[t * yearGroups.count + y].append((dates, number))
                }
            }
        }

        var testsWithOutcome: [String: [Int]] = [:]
        for (number, test) in tests.enumerated() { testsWithOutcome[test.instrument + "\u{0}" + test.measure, default: []].append(number) }
        var enrolled: [Int64: [(tests: [Int], start: Int, end: Int?)]] = [:]
        for row in try await db.query(
            """
            SELECT e.pupil_id, p.outcome_instrument AS instrument, p.outcome_measure AS measure,
                   (e.start_date - DATE '1970-01-01') AS start_day, (e.end_date - DATE '1970-01-01') AS end_day
              FROM enrolments e JOIN provisions p ON p.id = e.provision_id
             WHERE (p.outcome_instrument, p.outcome_measure) IN (SELECT * FROM unnest($1::text[], $2::text[]))
            """, tests.map(\.instrument), tests.map(\.measure)
        ).rows {
            let outcome = try row.decode("instrument", as: String.self) + "\u{0}" + (try row.decode("measure", as: String.self))
            enrolled[try row.decode("pupil_id"), default: []].append(
                (testsWithOutcome[outcome] ?? [], try row.decode("start_day"), try row.decode("end_day")))
        }
        var participants: [Int64: Set<SpanKey>] = [:]
        for enrolment in enrolments {
            guard let t = testNumber[enrolment.window.test] else { continue }
            participants[enrolment.pupil, default: []].insert(SpanKey(test: t, dates: enrolment.window.dates))
        }
        return Plan(
            enrolments: enrolments, testNumber: testNumber, yearGroups: yearGroups,
            windowNumber: windowNumber, needed: needed, windowDays: windowDays,
            participants: participants, enrolled: enrolled)
    }

    /// Adds the gains of the non-participants on a page of the results pass (``ResultsPass``
    /// says its columns) to `gains`, by window number.
    ///
    /// A gain needs a result within 14 days of the window's entry date and one within 14 days
    /// of its exit date, on the same test: every pairing of the two counts.
    static func addGains(
        _ plan: Plan, page: PostgresCells, rows: PostgresCells, series: PageSeries, to gains: inout [[Gain]]
    ) throws {
        var entries: [Double] = []
        var exits: [Double] = []
        var points: [(day: Int, value: Double)] = []
        for pupil in 0..<page.rowCount where !series.ofPupil[pupil].isEmpty {
            // Only the year groups of the enrolled pupils are needed: the others have none.
            guard try !page.isNull(pupil, 3) else { continue }
            let yearGroup = try page.int(pupil, 3)
            guard plan.yearGroups.indices.contains(yearGroup) else {
                throw PostgresError(code: .decoding, message: "a page of the pass numbers a year group \(yearGroup) the plan does not have")
            }
            let (id, school) = (try page.int64(pupil, 0), try page.int64(pupil, 1))
            let (participations, enrolments) = (plan.participants[id], plan.enrolled[id])
            let always = participations == nil && enrolments == nil
            for number in series.ofPupil[pupil] {
                let range = series.rows[number]
                guard let test = plan.testNumber[series.test[number]] else { continue }
                let windows = plan.needed[test * plan.yearGroups.count + yearGroup]
                guard !windows.isEmpty else { continue }
                points.removeAll(keepingCapacity: true)
                for row in range { points.append((try rows.int(row, 3), try rows.double(row, 2))) }
                for (dates, window) in windows where always || Plan.isPeer(participations, enrolments, test, dates) {
                    entries.removeAll(keepingCapacity: true)
                    exits.removeAll(keepingCapacity: true)
                    for point in points {
                        if abs(point.day - dates.entry) <= 14 { entries.append(point.value) }
                        if abs(point.day - dates.exit) <= 14 { exits.append(point.value) }
                    }
                    for entry in entries {
                        for exit in exits {
                            gains[window].append(Gain(school: school, entry: entry, gain: exit - entry))
                        }
                    }
                }
            }
        }
    }

    /// Computes each enrolment's two figures from every non-participant's `gains` (by window)
    /// and writes them to `eval_enrolment` on `db`. `gains` is emptied as the windows are
    /// taken: each window's gains move to the task that takes it, which sorts a copy of that
    /// window alone, so the gains are never all held twice (a sorted copy of them all held
    /// every gain twice, 45 MB of a 300,000-pupil evaluation's 102 MB peak of heap, heaptrack).
    ///
    /// Windows are independent, so they are taken on every core at once. This runs after the
    /// pass, with nothing beside it: on one core, sorting 357,000 gains in 108 windows and
    /// finding their medians took 55 ms of a 60,000-pupil trust's 0.85 s evaluation.
    static func store(_ db: PostgresConnection, _ plan: Plan, taking gains: inout [[Gain]]) async throws {
        var enrolmentsOf = [[Enrolment]](repeating: [], count: gains.count)
        for enrolment in plan.enrolments {
            if let window = plan.windowNumber[enrolment.window] { enrolmentsOf[window].append(enrolment) }
        }
        var found: [EnrolmentFigures] = []
        found.reserveCapacity(plan.enrolments.count)
        await withTaskGroup(of: [EnrolmentFigures].self) { group in
            for window in gains.indices where !enrolmentsOf[window].isEmpty {
                let (taken, enrolments) = (gains[window], enrolmentsOf[window])
                gains[window] = []
                group.addTask { figures(of: enrolments, among: taken) }
            }
            for await figures in group { found += figures }
        }
        try await db.execute(
            """
            UPDATE eval_enrolment t
               SET peer_gain = nullif(u.peer, '')::numeric, peer_n = u.peer_n,
                   matched_gain = nullif(u.matched, '')::numeric, matched_n = u.matched_n
              FROM unnest($1::bigint[], $2::text[], $3::int[], $4::text[], $5::int[]) AS u (id, peer, peer_n, matched, matched_n)
             WHERE t.enrolment_id = u.id
            """, found.map { String($0.enrolment) }, found.map { $0.peers.median.map(numeric) ?? "" }, found.map { String($0.peers.n) },
            found.map { $0.matched.median.map(numeric) ?? "" }, found.map { String($0.matched.n) })
    }

    /// A median and how many values it is of.
    struct Figures: Sendable {
        let median: Double?
        let n: Int

        init(_ values: [Double]) {
            (median, n) = (PeerComparison.median(values), values.count)
        }
    }

    /// An enrolment's two figures: its school's peers' median gain, and the matched one.
    struct EnrolmentFigures: Sendable {
        let enrolment: Int64
        let peers: Figures
        let matched: Figures
    }

    /// The figures of `enrolments`, all of one window, from that window's `gains`.
    ///
    /// Each median is computed once: per school, and per band of starting scores (enrolments
    /// share them, as scores are whole months or points), so the work grows with the trust,
    /// not with its square. Only the schools of the window's enrolments are needed: finding
    /// every school's median in every window was most of the work.
    static func figures(of enrolments: [Enrolment], among gains: [Gain]) -> [EnrolmentFigures] {
        struct Band: Hashable {
            let low: Double
            let high: Double
        }
        let sorted = gains.sorted { $0.entry < $1.entry }
        var peers: [Int64: Figures] = [:]
        var matched: [Band: Figures] = [:]
        return enrolments.map { enrolment in
            let school = peers[enrolment.school] ?? {
                let figures = Figures(sorted.compactMap { $0.school == enrolment.school ? $0.gain : nil })
                peers[enrolment.school] = figures
                return figures
            }()
            let band = Band(low: enrolment.low, high: enrolment.high)
            let similar = matched[band] ?? {
                let lower = sorted.partitionPoint { $0.entry < band.low }
                let upper = sorted.partitionPoint { $0.entry <= band.high }
                let figures = Figures(lower < upper ? sorted[lower..<upper].map(\.gain) : [])
                matched[band] = figures
                return figures
            }()
            return EnrolmentFigures(enrolment: enrolment.id, peers: school, matched: similar)
        }
    }

    /// The median as PostgreSQL's `percentile_cont(0.5)` gives it: the middle value, or the
    /// mean of the two middle values. Found by selection, not by sorting: sorting the gains
    /// of every band of starting scores was 7% of a million-pupil evaluation's own CPU.
    static func median(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        var values = values
        let middle = values.count / 2
        select(&values, middle)
        if values.count % 2 == 1 { return values[middle] }
        // Everything before `middle` is at most values[middle]: its largest is the other middle.
        guard let below = values[..<middle].max() else { return values[middle] }
        return below + (values[middle] - below) / 2
    }

    /// Reorders `values` so that `values[k]` is the value sorting would put there, with none
    /// larger before it and none smaller after it (Hoare's selection, median-of-three pivots).
    static func select(_ values: inout [Double], _ k: Int) {
        var (low, high) = (0, values.count - 1)
        while low < high {
            let (a, b, c) = (values[low], values[low + (high - low) / 2], values[high])
            let pivot = max(min(a, b), min(max(a, b), c))
            var (i, j) = (low, high)
            while i <= j {
                while values[i] < pivot { i += 1 }
                while values[j] > pivot { j -= 1 }
                if i <= j {
                    values.swapAt(i, j)
                    i += 1
                    j -= 1
                }
            }
            // Now low...j are at most the pivot, i...high at least, and anything between equals it.
            if k <= j {
                high = j
            } else if k >= i {
                low = i
            } else {
                return
            }
        }
    }

    /// A double as a numeric literal with 15 significant digits, as PostgreSQL casts float8
    /// to numeric: the last bits of binary arithmetic do not become digits.
    static func numeric(_ value: Double) -> String {
        String(format: "%.15g", value)
    }
}

extension Array {
    /// The index of the first element for which `belongs` is false, in an array where it is
    /// true for a prefix (binary search).
    func partitionPoint(_ belongs: (Element) -> Bool) -> Int {
        var low = 0
        var high = count
        while low < high {
            let middle = (low + high) / 2
            if belongs(self[middle]) { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
