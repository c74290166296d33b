import Foundation
import Postgres
import ProvisionConfig
import ProvisionModel

/// The stalled-pupil rule of the growth model (DESIGN §6, docs/evaluation.md).
///
/// For every pupil on roll, each measure's results become a ``GrowthSeries``. For each of the
/// last three term starts, the model weighs "progress as before" (the pupil's usual standing
/// and drift, from all their results) against "no progress since that term began", as a
/// likelihood ratio with the tests' measurement error; measures multiply, the term starts are
/// averaged (each equally likely a priori). A pupil is flagged when the evidence passes
/// `evaluation.stall_evidence`, ranked by it. A pupil with fewer than two results before every
/// candidate start on every measure cannot be judged yet: counted, never flagged.
///
/// The evaluation's one pass over everyone's results (``ResultsPass``) brings each pupil's
/// results in order; the arithmetic is O(results) in Swift.
enum StallDetection {
    /// The rule's name, on its flags and alerts.
    static let rule = "stalled_pupil"

    /// What the model found, before it is stored with a run: the pupils to flag, with their
    /// reasons and figures, and how many could not be judged.
    struct Findings: Sendable {
        /// Pupils that cannot be judged yet, by school.
        var cannotJudge: [Int64: Int] = [:]
        var ids: [String] = []
        var reasons: [String] = []
        var numbers: [String] = []

        /// Adds another page's findings.
        mutating func add(_ other: Findings) {
            cannotJudge.merge(other.cannotJudge, uniquingKeysWith: +)
            ids += other.ids
            reasons += other.reasons
            numbers += other.numbers
        }
    }

    /// Term starts the model tries: 1 September, 1 January and 1 April, the last three at
    /// least three weeks before `asOf` (so a start has had time for a result after it).
    static func candidateStarts(before asOf: SchoolDate) -> [SchoolDate] {
        var starts: [SchoolDate] = []
        for year in (asOf.year - 2)...asOf.year {
            for month in [1, 4, 9] {
                if let date = SchoolDate(year: year, month: month, day: 1), date.daysSince1970 <= asOf.daysSince1970 - 21 {
                    starts.append(date)
                }
            }
        }
        return Array(starts.sorted { $0.daysSince1970 < $1.daysSince1970 }.suffix(3))
    }

    /// Judges the pupils of a page of the results pass (``ResultsPass`` says its columns)
    /// that are to be judged, from their results up to `asOf`.
    static func judge(
        page: PostgresCells, rows: PostgresCells, series pageSeries: PageSeries, starts: [SchoolDate], asOf: SchoolDate,
        settings: Configuration.Evaluation
    ) throws -> Findings {
        let lastDay = asOf.daysSince1970
        var findings = Findings()
        var series: [(key: ResultTest, series: GrowthSeries)] = []
        var points: [GrowthSeries.Point] = []
        for pupil in 0..<page.rowCount where try page.int(pupil, 4) == 1 {
            // A pupil with no results before the day evaluated (a new arrival) has no series,
            // and cannot be judged.
            let born = try page.int(pupil, 2)
            series.removeAll(keepingCapacity: true)
            for number in pageSeries.ofPupil[pupil] {
                let range = pageSeries.rows[number]
                points.removeAll(keepingCapacity: true)
                // Results after the day evaluated are read only as peers' exit results.
                for row in range {
                    let day = try rows.int(row, 3)
                    guard day <= lastDay else { continue }
                    points.append(GrowthSeries.Point(
                        month: Double(day) / 30.4375, value: try rows.double(row, 2), age: Double(day - born) / 30.4375))
                }
                guard !points.isEmpty else { continue }
                let key = pageSeries.test[number]
                series.append((key, GrowthSeries(
                    kind: key.measure == "age_months" ? .ageRatio : key.measure == "standardised" ? .standardised : .raw,
                    scale: settings.scale(instrument: key.instrument, measure: key.measure), points: points)))
            }
            switch judge(series, starts: starts, threshold: settings.stallEvidence) {
            case .cannotJudge: findings.cannotJudge[try page.int64(pupil, 1), default: 0] += 1
            case .steady: break
            case .stalled(let reason, let numbers):
                findings.ids.append(String(try page.int64(pupil, 0)))
                findings.reasons.append(reason)
                findings.numbers.append(numbers)
            }
        }
        return findings
    }

    /// Stores the flags of `findings` with run `runID`; the number flagged.
    static func record(_ db: PostgresConnection, _ findings: Findings, runID: Int64, asOf: SchoolDate) async throws -> Int {
        try await db.execute(
            """
            INSERT INTO evaluation_flags (evaluation_run_id, rule, school_id, subject_key, pupil_id, priority, reason, numbers)
            SELECT $1, '\(rule)', p.school_id, 'pupil:' || p.upn, p.id,
                   CASE WHEN p.sen_provision <> 'N' OR EXISTS (
                             SELECT 1 FROM enrolments e WHERE e.pupil_id = p.id AND coalesce(e.end_date, $5::date) >= $5::date - 240)
                        THEN 2 ELSE 1 END,
                   f.reason, f.numbers::jsonb
              FROM unnest($2::bigint[], $3::text[], $4::text[]) AS f (pupil_id, reason, numbers)
              JOIN pupils p ON p.id = f.pupil_id
            """, runID, findings.ids, findings.reasons, findings.numbers, asOf.iso)
    }

    enum Judgement {
        case cannotJudge
        case steady
        case stalled(reason: String, numbers: String)
    }

    /// The pupil's evidence of a stall across measures and candidate starts.
    static func judge(_ series: [(key: ResultTest, series: GrowthSeries)], starts: [SchoolDate], threshold: Double) -> Judgement {
        var perStart: [(start: SchoolDate, month: Double, logRatio: Double)] = []
        for start in starts {
            let month = Double(start.daysSince1970) / 30.4375
            let judged = series.compactMap { $0.series.logEvidenceOfStall(since: month) }
            if !judged.isEmpty { perStart.append((start, month, judged.reduce(0, +))) }
        }
        guard let best = perStart.max(by: { $0.logRatio < $1.logRatio }) else { return .cannotJudge }
        // Average the ratios over the starts (log-sum-exp, so large ones do not overflow).
        let averaged = best.logRatio + log(perStart.map { exp($0.logRatio - best.logRatio) }.reduce(0, +) / Double(perStart.count))
        guard averaged >= log(threshold) else { return .steady }

        var sentences: [String] = []
        var measures: [JSONValue] = []
        for (key, growth) in series {
            let after = growth.split(at: best.month).after
            guard growth.logEvidenceOfStall(since: best.month) != nil, let last = after.last else { continue }
            let expected = growth.expectedValue(at: last, start: best.month)
            let shown = after.map { Wording.value($0.value, measure: key.measure) }.joined(separator: ", ")
            var sentence = "\(key.instrument) \(key.subject) \(Wording.measureName(key.measure)) \(shown) since \(Wording.monthYear(best.start))"
            if let expected {
                sentence += "; at the pupil's usual rate it would be about \(Wording.value(expected, measure: key.measure)) now"
            }
            sentences.append(sentence)
            measures.append(.object([
                "instrument": .string(key.instrument), "subject": .string(key.subject), "measure": .string(key.measure),
                "results_since": .array(after.map { .number($0.value) }),
                "expected_now": expected.map { .number(($0 * 10).rounded() / 10) } ?? .null,
            ]))
        }
        let likelihood = exp(min(averaged, 700))
        let strength = likelihood >= 1000 ? "over 1,000" : String(Int(likelihood.rounded()))
        let reason = sentences.joined(separator: ". ") + ". These results are \(strength) times likelier if progress stopped than if it carried on as before."
        let numbers = JSONValue.object([
            "evidence": .number((averaged * 100).rounded() / 100), "likelihood_ratio": .number(min(likelihood, 1e9).rounded()),
            "since": .string(best.start.iso), "measures": .array(measures),
        ])
        return .stalled(reason: reason, numbers: numbers.serialized)
    }
}

/// Numbers in a SENCO's words.
enum Wording {
    /// A reading age as years and months ("9y4m"); a score as a whole number.
    static func value(_ value: Double, measure: String) -> String {
        guard measure == "age_months" else { return String(Int(value.rounded())) }
        let months = Int(value.rounded())
        return "\(months / 12)y\(months % 12)m"
    }

    static func measureName(_ measure: String) -> String {
        switch measure {
        case "age_months": "age"
        case "standardised": "standardised score"
        case "steps": "steps"
        case "scaled": "scaled score"
        default: "score"
        }
    }

    static func monthYear(_ date: SchoolDate) -> String {
        let names = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]
        return "\(names[date.month - 1]) \(date.year)"
    }
}
