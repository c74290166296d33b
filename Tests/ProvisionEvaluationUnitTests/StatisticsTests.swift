import Foundation
import ProvisionConfig
@testable import ProvisionEvaluation
import Testing

/// The evaluation's arithmetic, without a database.
@Suite("evaluation arithmetic")
struct StatisticsTests {
    @Test func theGrowthModelWeighsEvidenceInClosedForm() throws {
        // Four results exactly on the pupil's path, then two exactly frozen: a stall, and the
        // evidence grows with every frozen result; a path that carries on is not one.
        func series(_ values: [(Double, Double)]) -> GrowthSeries {
            GrowthSeries(
                kind: .ageRatio, scale: Configuration.InstrumentScale(error: 4),
                points: values.map { GrowthSeries.Point(month: $0.0, value: $0.1, age: $0.0) })
        }
        let before = [(90.0, 90.0), (93, 93), (96, 96), (99, 99)]
        let twoFrozen = series(before + [(102, 100), (105, 100)]).logEvidenceOfStall(since: 100)
        let threeFrozen = series(before + [(102, 100), (105, 100), (108, 100)]).logEvidenceOfStall(since: 100)
        let onPace = series(before + [(102, 102), (105, 105), (108, 108)]).logEvidenceOfStall(since: 100)
        let two = try #require(twoFrozen)
        let three = try #require(threeFrozen)
        let pace = try #require(onPace)
        #expect(three > two)
        #expect(two > 0)
        #expect(pace < 0)
        #expect(series([(99, 99), (102, 100)]).logEvidenceOfStall(since: 100) == nil, "one result before: cannot judge")
    }

    @Test func studentsTQuantileMatchesTheTables() {
        // Two-sided 95% critical values from the published tables, to three decimals.
        let published: [Int: Double] = [1: 12.706, 10: 2.228, 30: 2.042, 31: 2.040, 40: 2.021, 60: 2.000, 120: 1.980]
        for (degrees, value) in published {
            #expect(abs(MeanInterval.tCritical(degrees: degrees) - value) < 0.0015, "\(degrees) degrees")
        }
        // Wider with fewer degrees of freedom, never below the normal quantile.
        let series = (1...200).map { MeanInterval.tCritical(degrees: $0) }
        #expect(zip(series, series.dropFirst()).allSatisfy { $0 >= $1 })
        #expect(series.allSatisfy { $0 > 1.959 })
    }

    @Test func aMeanIntervalIsTheTIntervalOfItsValues() throws {
        let interval = try #require(MeanInterval([1, 2, 3, 4, 5]))
        // mean 3, s = 1.5811, t(4) = 2.776: half-width 1.963.
        #expect(interval.mean == 3)
        #expect(abs(interval.high - 4.963) < 0.001 && abs(interval.low - 1.037) < 0.001, "\(interval)")
        #expect(MeanInterval([7]) == nil)
    }
}

@Suite("pupil batches")
struct PupilBatchesTests {
    @Test func denseRangesGoAloneScatteredOnesCarryTheirIds() {
        let dense = PupilBatches.batch(Array(1...12))
        #expect((dense.first, dense.last) == (1, 12))
        #expect(dense.only == nil)
        let scattered = PupilBatches.batch([3, 40, 41, 900])
        #expect((scattered.first, scattered.last) == (3, 900))
        #expect(scattered.only == ["3", "40", "41", "900"])
    }

    /// Connections share the ids in ranges that cover each id once, none empty.
    @Test func idsAreCutIntoEqualRangesForTheConnections() {
        func pairs(_ ranges: [(first: Int64, last: Int64)]) -> [[Int64]] { ranges.map { [$0.first, $0.last] } }
        #expect(pairs(PupilBatches.split(1...10, into: 2)) == [[1, 5], [6, 10]])
        #expect(pairs(PupilBatches.split(1...10, into: 3)) == [[1, 4], [5, 8], [9, 10]])
        #expect(pairs(PupilBatches.split(7...7, into: 2)) == [[7, 7]])
        #expect(pairs(PupilBatches.split(5...6, into: 3)) == [[5, 5], [6, 6]])
    }

    @Test func theMedianIsPercentileContsHalf() {
        #expect(PeerComparison.median([]) == nil)
        #expect(PeerComparison.median([5, 1, 3]) == 3)
        #expect(PeerComparison.median([4, 1, 2, 9]) == 3)
        #expect(PeerComparison.numeric(0.1 + 0.2) == "0.3")
    }

    /// The peer comparison's median, found by selection, is the one sorting gives (as
    /// PostgreSQL's `percentile_cont(0.5)`), for odd and even counts, ties and negatives.
    @Test func theMedianBySelectionIsTheMedianOfTheSortedValues() {
        var generator = SystemRandomNumberGenerator()
        for count in Array(1...40) + [99, 100, 1001] {
            for _ in 0..<20 {
                // Few distinct values, so ties are common.
                let values = (0..<count).map { _ in Double(Int.random(in: -12...12, using: &generator)) / 4 }
                let sorted = values.sorted()
                let middle = count / 2
                let expected = count % 2 == 1 ? sorted[middle] : sorted[middle - 1] + (sorted[middle] - sorted[middle - 1]) / 2
                #expect(PeerComparison.median(values) == expected, "\(values)")
            }
        }
        #expect(PeerComparison.median([]) == nil)
        #expect(PeerComparison.median([3, 1, 2, 10]) == 2.5)
    }
}
