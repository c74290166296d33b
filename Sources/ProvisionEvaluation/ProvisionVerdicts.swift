import Foundation
import Postgres
import ProvisionConfig
import ProvisionModel

/// One provision's (or one programme's, across the trust) result.
struct ProvisionOutcome {
    let provisionID: Int64?
    let schoolID: Int64?
    let programme: String
    let name: String
    let measure: String
    let effect: MeanInterval?
    let adjusted: MeanInterval?
    /// Value added beyond the exit each pupil's history predicted, pooled towards the
    /// programme for a group that runs in several places.
    let valueAdded: Estimate?
    let pooled: Bool
    let n: Int
    let verdict: Verdict
    let costTotal: Double?
    let enrolled: Int
    let meanGain: Double?
}

/// Per provision and per programme (DESIGN §6): n, mean effect with a 95% interval, the
/// value added beyond each pupil's predicted exit, the comparison with matched
/// non-participants, costs, and the verdict.
///
/// When at least `minimum_n` pupils have a prediction from their own history (``ValueAdded``),
/// the verdict rests on the value added, which choosing pupils for a low score cannot
/// inflate: **effective** when its interval is above zero and the matched non-participants
/// did not clearly do better; **ineffective** when its interval is below the smallest effect
/// worth having (`minimum_worthwhile_effect`); inconclusive otherwise. A group in a
/// programme run in several places borrows strength from the programme (partial pooling),
/// so five pupils cannot make a programme look effective on noise alone. With fewer
/// predictions, the older rule applies: the ratio gain (or score change) must clear its
/// threshold *and* beat matched non-participants; without a comparison, never "effective".
enum ProvisionVerdicts {
    struct Row {
        let provisionID: Int64
        let schoolID: Int64
        let name: String
        let measure: String
        let gain: Double?
        let ratio: Double?
        let adjusted: Double?
        let valueAdded: Double?
    }

    static func compute(
        _ db: PostgresConnection, runID: Int64, asOf: SchoolDate, settings: Configuration.Evaluation
    ) async throws -> [ProvisionOutcome] {
        let rows = try await db.query(
            """
            SELECT pr.id AS provision_id, pr.school_id, pr.name, o.measure, o.gain::float8 AS gain,
                   o.ratio_gain::float8 AS ratio, (o.gain - o.matched_gain)::float8 AS adjusted,
                   o.value_added::float8 AS value_added
              FROM enrolment_outcomes o
              JOIN enrolments e ON e.id = o.enrolment_id
              JOIN provisions pr ON pr.id = e.provision_id
             WHERE o.evaluation_run_id = $1
             ORDER BY pr.id, e.id
            """, runID
        ).rows.map { row in
            Row(
                provisionID: try row.decode("provision_id"), schoolID: try row.decode("school_id"),
                name: try row.decode("name"), measure: try row.decode("measure"), gain: try row.decode("gain"),
                ratio: try row.decode("ratio"), adjusted: try row.decode("adjusted"), valueAdded: try row.decode("value_added"))
        }
        let costs = try await ProvisionCosts.load(db, asOf: asOf)

        var outcomes: [ProvisionOutcome] = []
        var byProvision: [Int64: [Row]] = [:]
        var byProgramme: [String: [Row]] = [:]
        for row in rows {
            byProvision[row.provisionID, default: []].append(row)
            byProgramme[programmeKey(row.name) + "|" + row.measure, default: []].append(row)
        }
        // Each programme's groups, for partial pooling: the spread between groups' value added.
        var programmeOf: [Int64: String] = [:]
        for (key, group) in byProgramme { for row in group { programmeOf[row.provisionID] = key } }
        var pools: [String: Pool] = [:]
        for (key, group) in byProgramme {
            let groups = Dictionary(grouping: group, by: \.provisionID).values.compactMap { rows in
                Estimate(rows.compactMap(\.valueAdded))
            }
            if groups.count >= 2 { pools[key] = Pool(groups) }
        }
        for (provisionID, group) in byProvision.sorted(by: { $0.key < $1.key }) {
            let first = group[0]
            outcomes.append(judge(
                group, provisionID: provisionID, schoolID: first.schoolID, name: first.name, measure: first.measure,
                cost: costs[provisionID], settings: settings, pool: programmeOf[provisionID].flatMap { pools[$0] }))
        }
        for (key, group) in byProgramme.sorted(by: { $0.key < $1.key }) where Set(group.map(\.provisionID)).count > 1 {
            let total = Set(group.map(\.provisionID)).compactMap { costs[$0]?.total }.reduce(0, +)
            let enrolled = Set(group.map(\.provisionID)).compactMap { costs[$0]?.enrolled }.reduce(0, +)
            outcomes.append(judge(
                group, provisionID: nil, schoolID: nil, name: group[0].name, measure: group[0].measure,
                cost: (total, enrolled), settings: settings, programme: key))
        }
        try await store(outcomes, db: db, runID: runID, settings: settings)
        return outcomes
    }

    /// Programmes are matched across schools by name, ignoring case, spaces and punctuation.
    static func programmeKey(_ name: String) -> String {
        String(name.lowercased().unicodeScalars.filter { CharacterSet.alphanumerics.contains($0) }.map(Character.init))
    }

    static func judge(
        _ rows: [Row], provisionID: Int64?, schoolID: Int64?, name: String, measure: String,
        cost: (total: Double, enrolled: Int)?, settings: Configuration.Evaluation, programme: String? = nil,
        pool: Pool? = nil
    ) -> ProvisionOutcome {
        let complete = rows.filter { $0.gain != nil }
        let headline: [Double] = measure == "age_months" ? complete.compactMap(\.ratio) : complete.compactMap(\.gain)
        let effect = MeanInterval(headline)
        let adjusted = MeanInterval(complete.compactMap(\.adjusted))
        let own = Estimate(complete.compactMap(\.valueAdded))
        let valueAdded = own.map { pool?.shrink($0) ?? $0 }
        let worthwhile = measure == "age_months" ? settings.minimumWorthwhileRatePerMonth : settings.minimumWorthwhilePoints
        let threshold = measure == "age_months" ? settings.ratioGainThreshold : 0
        let verdict: Verdict
        if let valueAdded, valueAdded.n >= settings.minimumN {
            if valueAdded.low > 0 && (adjusted.map { $0.high > 0 } ?? true) {
                verdict = .effective
            } else if valueAdded.high < worthwhile {
                verdict = .ineffective
            } else {
                verdict = .inconclusive
            }
        } else if complete.count < settings.minimumN || effect == nil {
            verdict = .insufficientData
        } else if let effect, let adjusted, effect.low >= threshold && adjusted.low > 0 {
            verdict = .effective
        } else if let effect, effect.high < threshold || (adjusted.map { $0.high < 0 } ?? false) {
            verdict = .ineffective
        } else {
            verdict = .inconclusive
        }
        let gains = complete.compactMap(\.gain)
        return ProvisionOutcome(
            provisionID: provisionID, schoolID: schoolID, programme: programme ?? programmeKey(name) + "|" + measure,
            name: name, measure: measure, effect: effect, adjusted: adjusted,
            valueAdded: valueAdded, pooled: pool != nil && valueAdded != nil, n: complete.count, verdict: verdict,
            costTotal: cost?.total, enrolled: cost?.enrolled ?? rows.count,
            meanGain: gains.isEmpty ? nil : gains.reduce(0, +) / Double(gains.count))
    }

    /// The columns of `provision_outcomes` a run writes, in the order of ``store``'s arrays,
    /// with their types; `''` reads back as NULL for the optional ones (never an empty name:
    /// those columns are not optional).
    private static let storedColumns: [(name: String, type: String, optional: Bool)] = [
        ("provision_id", "bigint", true), ("school_id", "bigint", true), ("programme", "text", false),
        ("name", "text", false), ("measure", "text", false), ("n", "int", false), ("effect", "numeric", true),
        ("ci_low", "numeric", true), ("ci_high", "numeric", true), ("adjusted_effect", "numeric", true),
        ("adjusted_low", "numeric", true), ("adjusted_high", "numeric", true), ("adjusted_n", "int", false),
        ("verdict", "text", false), ("cost_total", "numeric", true), ("cost_per_pupil", "numeric", true),
        ("cost_per_unit_gain", "numeric", true), ("numbers", "jsonb", false), ("value_added", "numeric", true),
        ("value_added_low", "numeric", true), ("value_added_high", "numeric", true), ("value_added_n", "int", false),
        ("pooled", "boolean", false),
    ]

    /// Writes the outcomes with run `runID` in one statement: one per provision took a
    /// round trip each, a tenth of a 60,000-pupil trust's evaluation and a second of a
    /// million-pupil deployment's (6,252 provisions and programmes).
    static func store(_ outcomes: [ProvisionOutcome], db: PostgresConnection, runID: Int64, settings: Configuration.Evaluation) async throws {
        guard !outcomes.isEmpty else { return }
        var columns = [[String]](repeating: [], count: storedColumns.count)
        for outcome in outcomes {
            let perPupil = outcome.costTotal.map { $0 / Double(max(1, outcome.enrolled)) }
            // What one unit of the measure's gain (a month of reading age, a standardised point) cost.
            let perUnit = perPupil.flatMap { cost in outcome.meanGain.flatMap { $0 > 0 ? cost / $0 : nil } }
            var numbers = "{\"threshold\":\(outcome.measure == "age_months" ? settings.ratioGainThreshold : 0)"
            if let effect = outcome.effect, outcome.measure == "age_months" {
                numbers += ",\"band\":\"\(RatioGainBand.name(effect.mean))\""
            }
            if let effect = outcome.effect, outcome.measure == "standardised" {
                numbers += ",\"eef_months\":\(EEFMonths.months(effectSize: effect.mean / 15))"
            }
            numbers += "}"
            let row: [any PostgresEncodable] = [
                outcome.provisionID, outcome.schoolID, outcome.programme, outcome.name, outcome.measure, outcome.n,
                outcome.effect?.mean.rounded(to: 3), outcome.effect?.low.rounded(to: 3), outcome.effect?.high.rounded(to: 3),
                outcome.adjusted?.mean.rounded(to: 3), outcome.adjusted?.low.rounded(to: 3), outcome.adjusted?.high.rounded(to: 3),
                outcome.adjusted?.n ?? 0, outcome.verdict.rawValue, outcome.costTotal?.rounded(to: 2), perPupil?.rounded(to: 2),
                perUnit?.rounded(to: 2), numbers, outcome.valueAdded?.mean.rounded(to: 3),
                outcome.valueAdded?.low.rounded(to: 3), outcome.valueAdded?.high.rounded(to: 3), outcome.valueAdded?.n ?? 0,
                outcome.pooled,
            ]
            for (index, value) in row.enumerated() { columns[index].append(value.postgresText ?? "") }
        }
        let names = storedColumns.map(\.name).joined(separator: ", ")
        let values = storedColumns.map { $0.optional ? "nullif(u.\($0.name), '')::\($0.type)" : "u.\($0.name)::\($0.type)" }
        let arrays = (0..<storedColumns.count).map { "$\($0 + 2)::text[]" }
        try await db.execute(
            """
            INSERT INTO provision_outcomes (evaluation_run_id, \(names))
            SELECT $1, \(values.joined(separator: ", "))
              FROM unnest(\(arrays.joined(separator: ", "))) AS u (\(names))
            """, [runID] + columns)
    }
}

/// What each provision cost: staff time (sessions × minutes × weeks at the hourly cost, or
/// the mean of its staff's rates) plus resources.
enum ProvisionCosts {
    static func load(_ db: PostgresConnection, asOf: SchoolDate) async throws -> [Int64: (total: Double, enrolled: Int)] {
        let rows = try await db.query(
            """
            SELECT pr.id,
                   (coalesce(pr.sessions_per_week, 0) * coalesce(pr.minutes_per_session, 0) / 60.0
                    * greatest(1, (least(coalesce(pr.end_date, $1::date), $1::date) - pr.start_date) / 7.0)
                    * coalesce(pr.hourly_cost, (SELECT avg(s.hourly_cost) FROM provision_staff ps JOIN staff s ON s.id = ps.staff_id
                                                 WHERE ps.provision_id = pr.id), 0)
                    + coalesce(pr.resource_cost, 0))::float8 AS total,
                   (SELECT count(*) FROM enrolments e WHERE e.provision_id = pr.id) AS enrolled
              FROM provisions pr WHERE pr.start_date IS NOT NULL
            """, asOf.iso)
        var costs: [Int64: (total: Double, enrolled: Int)] = [:]
        for row in rows.rows {
            costs[try row.decode("id", as: Int64.self)] = (try row.decode("total"), try row.decode("enrolled"))
        }
        return costs
    }
}

extension Double {
    func rounded(to places: Int) -> Double {
        let scale = pow(10, Double(places))
        return (self * scale).rounded() / scale
    }
}

/// A mean with its standard error and 95% interval, normal-theory (for pooling).
struct Estimate: Sendable {
    let n: Int
    let mean: Double
    let standardError: Double
    var low: Double { mean - 1.96 * standardError }
    var high: Double { mean + 1.96 * standardError }

    init(n: Int, mean: Double, standardError: Double) {
        self.n = n
        self.mean = mean
        self.standardError = standardError
    }

    /// Nil for fewer than two values. The interval uses Student's t through the standard error.
    init?(_ values: [Double]) {
        guard let interval = MeanInterval(values) else { return nil }
        self.init(n: interval.n, mean: interval.mean, standardError: (interval.high - interval.mean) / 1.96)
    }
}

/// A programme's groups, for partial pooling: the programme's mean and the real spread
/// between its groups (DerSimonian–Laird), so each group's estimate is drawn towards the
/// programme by as much as its own noise exceeds that spread.
struct Pool: Sendable {
    let mean: Double
    let meanVariance: Double
    let between: Double

    init(_ groups: [Estimate]) {
        let weights = groups.map { 1 / max($0.standardError * $0.standardError, 1e-9) }
        let total = weights.reduce(0, +)
        let fixed = zip(weights, groups).map { $0 * $1.mean }.reduce(0, +) / total
        let q = zip(weights, groups).map { $0 * ($1.mean - fixed) * ($1.mean - fixed) }.reduce(0, +)
        let c = total - weights.map { $0 * $0 }.reduce(0, +) / total
        let tau2 = c > 0 ? max(0, (q - Double(groups.count - 1)) / c) : 0
        let random = groups.map { 1 / ($0.standardError * $0.standardError + tau2) }
        let randomTotal = random.reduce(0, +)
        mean = zip(random, groups).map { $0 * $1.mean }.reduce(0, +) / randomTotal
        meanVariance = 1 / randomTotal
        between = tau2
    }

    /// A group's estimate drawn towards the programme's mean.
    func shrink(_ group: Estimate) -> Estimate {
        let own = group.standardError * group.standardError
        guard between + own > 0 else { return group }
        let weight = between / (between + own)
        let mean = weight * group.mean + (1 - weight) * self.mean
        let variance = weight * own + (1 - weight) * (1 - weight) * meanVariance
        return Estimate(n: group.n, mean: mean, standardError: variance.squareRoot())
    }
}
