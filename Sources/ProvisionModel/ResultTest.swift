/// What a result measures: an instrument's subject, in one of ``Codes/measures``. Stored once
/// in `result_tests` and named by its id in each result (migration 32); the import finds the
/// ids of the tests it meets, the evaluation the names of the ids it reads.
public struct ResultTest: Hashable, Sendable {
    /// The test as the MIS names it (`Salford`, `NGRT`).
    public let instrument: String
    /// What it tests (`reading`, `spelling`).
    public let subject: String
    /// One of ``Codes/measures``.
    public let measure: String

    /// The test named so.
    public init(instrument: String, subject: String, measure: String) {
        (self.instrument, self.subject, self.measure) = (instrument, subject, measure)
    }
}
