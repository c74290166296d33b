@testable import ProvisionImport
import Testing

@Suite("import progress")
struct ImportProgressTests {
    /// The lines the last run read that this one has not yet, at this run's rate so far.
    @Test func theTimeLeftIsTheLastRunsRemainingLinesAtTheRateSoFar() {
        var progress = ImportProgress(
            source: "s", phase: .reading, records: 250_000, bytes: 0, elapsed: .seconds(2), expectedRecords: 1_000_000)
        #expect(progress.timeLeft == .seconds(6))
        // At or past the last run's size, what is left cannot be told.
        progress.records = 1_000_000
        #expect(progress.timeLeft == nil)
        progress.records = 1_200_000
        #expect(progress.timeLeft == nil)
        // Nor before any rate, nor without a last run.
        #expect(ImportProgress(source: "s", phase: .reading, records: 0, bytes: 0, elapsed: .zero, expectedRecords: 10).timeLeft == nil)
        #expect(ImportProgress(source: "s", phase: .reading, records: 10, bytes: 0, elapsed: .seconds(1)).timeLeft == nil)
    }
}
