import Foundation

/// A mean with its 95% confidence interval (Student's t), the figures every verdict rests on.
public struct MeanInterval: Sendable, Equatable {
    /// How many values.
    public let n: Int
    /// Their mean.
    public let mean: Double
    /// The lower end of the 95% interval.
    public let low: Double
    /// The upper end of the 95% interval.
    public let high: Double

    /// Nil for fewer than two values (no spread, no interval).
    public init?(_ values: [Double]) {
        guard values.count >= 2 else { return nil }
        let n = Double(values.count)
        let mean = values.reduce(0, +) / n
        let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)
        let half = Self.tCritical(degrees: values.count - 1) * (variance / n).squareRoot()
        self.n = values.count
        self.mean = mean
        self.low = mean - half
        self.high = mean + half
    }

    /// Two-sided 97.5% quantile of Student's t.
    static func tCritical(degrees: Int) -> Double {
        let table: [Double] = [
            12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
            2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
            2.045, 2.042,
        ]
        if degrees >= 1 && degrees <= table.count { return table[degrees - 1] }
        // Beyond the table, the Cornish–Fisher expansion around the normal quantile is exact
        // to three decimals (31 degrees: 2.040; 60: 2.000; 120: 1.980); a flat 2.000 for 31–60
        // made those intervals too narrow.
        let z = 1.959964
        let v = Double(max(degrees, 1))
        return z + (z * z * z + z) / (4 * v) + (5 * pow(z, 5) + 16 * z * z * z + 3 * z) / (96 * v * v)
    }
}

/// The verdicts of DESIGN §6.
public enum Verdict: String, Sendable {
    case effective, ineffective, inconclusive
    case insufficientData = "insufficient_data"
}

/// Brooks' bands for ratio gains ("What Works for Children and Young People with Literacy
/// Difficulties").
public enum RatioGainBand {
    /// The band a ratio gain falls in: doubtful, modest, useful, substantial or remarkable.
    public static func name(_ ratio: Double) -> String {
        switch ratio {
        case ..<1.4: "doubtful"
        case ..<2: "modest"
        case ..<3: "useful"
        case ..<4: "substantial"
        default: "remarkable"
        }
    }
}

/// A standardised-score change as the EEF's "months of additional progress": the effect
/// size (change / 15) on the EEF's conversion table.
public enum EEFMonths {
    /// Months of additional progress for effect size `d`, negative for a loss (at most 12).
    public static func months(effectSize d: Double) -> Int {
        let bands: [(Double, Int)] = [
            (0.02, 0), (0.10, 1), (0.19, 2), (0.27, 3), (0.35, 4), (0.45, 5), (0.53, 6), (0.62, 7), (0.70, 8),
            (0.79, 9), (0.88, 10), (0.96, 11),
        ]
        let magnitude = abs(d)
        let months = bands.first { magnitude < $0.0 }?.1 ?? 12
        return d < 0 ? -months : months
    }
}
