extension Migration {
    /// The index on assessments by test and date served the peer comparison in SQL, which
    /// joined every window's dates to everyone's results. The comparison now reads each
    /// pupil's results in the unique index's order, and nothing else looks results up by
    /// test and date, so the index only cost every import: a sixth of inserting results.
    static let unusedIndex = Migration(
        version: 12, name: "drop assessments_by_test",
        sql: """
            DROP INDEX assessments_by_test;
            """)
}
