import Postgres

/// Work on a run's flags that must commit with them (the alert lifecycle), done once every
/// rule's flags are recorded, in the run's transaction, and timed as a step of its own.
public struct FlagFollowUp {
    /// What `--timings` calls the work.
    public var name: String
    /// The work: on the evaluation's connection, in its transaction, for run `runID`.
    public var work: (PostgresConnection, Int64) async throws -> Void

    /// Work `name`d on the run's flags.
    public init(name: String, work: @escaping (PostgresConnection, Int64) async throws -> Void) {
        self.name = name
        self.work = work
    }
}
