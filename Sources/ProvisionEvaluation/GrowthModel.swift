import Foundation
import ProvisionConfig

typealias InstrumentScale = Configuration.InstrumentScale

extension Configuration.InstrumentScale {
    /// Whether `value` is at the floor or ceiling: it says only "at most" or "at least", so
    /// it is not evidence of progress or of its absence.
    func isCensored(_ value: Double) -> Bool {
        (floor.map { value <= $0 } ?? false) || (ceiling.map { value >= $0 } ?? false)
    }
}

/// One pupil's results on one measure, in time order, as the growth model reads them.
///
/// Each result becomes a *standing* that stays level while the pupil progresses normally:
/// a reading age divided by chronological age (1.0 is "reading at their age"), a
/// standardised score as it is (peers of the same age progress too), or a raw score or step
/// as it is (with a trend the pupil's own history sets). The model's two questions are
/// Gaussian linear models in the standing, so each is answered in closed form.
struct GrowthSeries {
    enum Kind: Sendable { case ageRatio, standardised, raw }

    struct Point: Sendable {
        /// Months since 1970, so differences are months.
        let month: Double
        let value: Double
        /// The pupil's age in months on the day.
        let age: Double
    }

    let kind: Kind
    let scale: InstrumentScale
    /// Usable (uncensored) results, oldest first.
    let points: [Point]

    /// How far a standardised score's standard deviation (15) reaches in age-equivalent
    /// terms: 15% of chronological age, the usual spread of reading ages at a given age.
    static let standardisedShareOfAge = 0.15

    init(kind: Kind, scale: InstrumentScale, points: [Point]) {
        self.kind = kind
        self.scale = scale
        self.points = points.filter { !scale.isCensored($0.value) && $0.age > 0 }
    }

    func standing(_ point: Point) -> Double {
        kind == .ageRatio ? point.value / point.age : point.value
    }

    func standingError(_ point: Point) -> Double {
        kind == .ageRatio ? scale.error / point.age : scale.error
    }

    /// The prior on the pupil's drift in standing per month: normal progress keeps a ratio
    /// or a standardised score level, give or take about two standardised points a year
    /// (0.02 of a reading-age ratio) — true year-to-year change is small once the tests'
    /// own noise is taken out; a raw score's trend is the pupil's own.
    var driftPrior: (mean: Double, sd: Double) {
        switch kind {
        case .ageRatio: (0, 0.0017)
        case .standardised: (0, 0.17)
        case .raw: (0, 20)
        }
    }

    /// The standing at `month` if the pupil's attainment has stood still since `start`,
    /// as `offset + slope × standingAtStart`.
    func frozen(at point: Point, since start: Double) -> (offset: Double, slope: Double) {
        let ageAtStart = point.age - (point.month - start)
        switch kind {
        case .raw:
            return (0, 1)
        case .ageRatio:
            return (0, ageAtStart / point.age)
        case .standardised:
            let k = Self.standardisedShareOfAge
            let shrink = ageAtStart / point.age
            // Reading-age terms: standing 100 + (15/k)(RA/age − 1); RA frozen at its value then.
            return (100 + (15 / k) * (shrink - 1) - 100 * shrink, shrink)
        }
    }

    /// The results before and after `start`.
    func split(at start: Double) -> (before: [Point], after: [Point]) {
        (points.filter { $0.month < start }, points.filter { $0.month >= start })
    }

    /// Log likelihood ratio of "no progress since `start`" against "progress as before",
    /// with the pupil's usual standing and drift taken from all their results (each
    /// hypothesis integrating over them). Nil when there are fewer than two results before
    /// `start` or none after it: the model cannot judge yet.
    func logEvidenceOfStall(since start: Double) -> Double? {
        // Counted, not split: this runs for every series at every candidate start.
        var before = 0
        for point in points where point.month < start { before += 1 }
        guard before >= 2, before < points.count else { return nil }
        // Both hypotheses integrate over the same prior and see the same results with the same
        // errors, so the terms of their marginal likelihoods that depend on nothing else cancel
        // in the ratio (``Evidence/logMarginal``): one walk over the results, and no logarithm
        // per result.
        var continuing = Evidence(prior: priorMeans(), priorSD: priorSDs(around: points))
        var stalled = continuing
        for point in points {
            let (y, sd) = (standing(point), standingError(point))
            let asBefore = Observation(x: SIMD2(1, point.month - start), y: y, sd: sd)
            continuing.add(asBefore)
            if point.month >= start {
                let frozen = frozen(at: point, since: start)
                stalled.add(Observation(x: SIMD2(frozen.slope, 0), y: y - frozen.offset, sd: sd))
            } else {
                stalled.add(asBefore)
            }
        }
        return stalled.logMarginal - continuing.logMarginal
    }

    /// What the pupil's usual standing and drift, from results before `start` alone, predict
    /// for `point`'s date, in the measure's own units.
    func expectedValue(at point: Point, start: Double) -> Double? {
        let before = split(at: start).before
        guard before.count >= 2 else { return nil }
        var evidence = Evidence(prior: priorMeans(), priorSD: priorSDs(around: before))
        for earlier in before {
            evidence.add(Observation(x: SIMD2(1.0, earlier.month - start), y: standing(earlier), sd: standingError(earlier)))
        }
        let mean = evidence.posteriorMean
        let predicted = mean[0] + mean[1] * (point.month - start)
        return kind == .ageRatio ? predicted * point.age : predicted
    }

    // MARK: The linear-Gaussian algebra

    /// One result as the linear model sees it: standing `y` = `x` · (level, drift) + noise
    /// with standard deviation `sd`. Two plain numbers for `x`, not an array: this is built
    /// for every result at every candidate start, and allocating was most of the stall pass.
    struct Observation {
        let x: SIMD2<Double>
        let y: Double
        let sd: Double
    }

    private func priorMeans() -> SIMD2<Double> { SIMD2(points.first.map(standing) ?? 0, driftPrior.mean) }

    /// A level prior wide enough to be uninformative, the same under both hypotheses.
    private func priorSDs(around sample: [Point]) -> SIMD2<Double> {
        // A loop, not `map(...).max()`: this runs for every series at every candidate start.
        guard var spread = sample.first.map(standingError) else { return SIMD2(1000, driftPrior.sd) }
        for point in sample.dropFirst() { spread = max(spread, standingError(point)) }
        return SIMD2(spread * 1000, driftPrior.sd)
    }

    /// What a series' standings say of the two parameters (level and drift) under the prior
    /// N(m, P), summed result by result through the 2×2 information matrix (Woodbury), so each
    /// series costs O(n): one hypothesis's marginal likelihood, log N(y; X m, D + X P Xᵀ), and
    /// the parameters' posterior mean.
    struct Evidence {
        /// The prior's mean, m.
        let prior: SIMD2<Double>
        /// P⁻¹ + XᵀD⁻¹X, symmetric: its (0,0), (0,1) and (1,1) entries.
        var information: (Double, Double, Double)
        /// XᵀD⁻¹(y − X m).
        var score = (0.0, 0.0)
        /// (y − X m)ᵀD⁻¹(y − X m).
        var quadratic = 0.0

        init(prior: SIMD2<Double>, priorSD: SIMD2<Double>) {
            self.prior = prior
            information = (1 / (priorSD[0] * priorSD[0]), 0, 1 / (priorSD[1] * priorSD[1]))
        }

        mutating func add(_ row: Observation) {
            let (x, y, sd) = (row.x, row.y, row.sd)
            let weight = 1 / (sd * sd)
            let residual = y - (x[0] * prior[0] + x[1] * prior[1])
            information.0 += weight * x[0] * x[0]
            information.1 += weight * x[0] * x[1]
            information.2 += weight * x[1] * x[1]
            score.0 += weight * x[0] * residual
            score.1 += weight * x[1] * residual
            quadratic += weight * residual * residual
        }

        /// The log marginal likelihood without the terms that every hypothesis about the same
        /// results under the same prior shares (log det D, n log 2π and log det P⁻¹), which
        /// cancel in a likelihood ratio: −½ (the quadratic form + log det(P⁻¹ + XᵀD⁻¹X)).
        var logMarginal: Double {
            let shift = self.shift
            let form = quadratic - (score.0 * shift[0] + score.1 * shift[1])
            return -0.5 * (form + log(determinant))
        }

        /// The posterior mean of the level and the drift: the prior's, moved by the results.
        var posteriorMean: SIMD2<Double> { prior + shift }

        private var determinant: Double { information.0 * information.2 - information.1 * information.1 }

        /// (P⁻¹ + XᵀD⁻¹X)⁻¹ XᵀD⁻¹(y − X m): how far the results move the parameters from m.
        private var shift: SIMD2<Double> {
            let determinant = self.determinant
            return SIMD2(
                (information.2 * score.0 - information.1 * score.1) / determinant,
                (-information.1 * score.0 + information.0 * score.1) / determinant)
        }
    }
}
