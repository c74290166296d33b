import Postgres

/// Some of the evaluation's rules, by name: whose flags a piece of work on a run's flags
/// takes.
public enum RuleSelection: Sendable, Equatable {
    /// Every rule.
    case all
    /// These rules only.
    case only([String])
    /// Every rule but these.
    case allBut([String])

    /// A SQL condition on `column` selecting these rules, which reads the rules named from
    /// the text array parameter `$parameter` (bind ``names`` to it).
    public func condition(on column: String, parameter: Int) -> String {
        // `.all` reads the (empty) parameter too: the server refuses a parameter no
        // statement uses, as it cannot tell its type.
        switch self {
        case .only: "\(column) = ANY($\(parameter)::text[])"
        case .all, .allBut: "\(column) <> ALL($\(parameter)::text[])"
        }
    }

    /// The rules named, for the parameter of ``condition(on:parameter:)``.
    public var names: [String] {
        switch self {
        case .all: []
        case .only(let rules), .allBut(let rules): rules
        }
    }
}

/// Work on a run's flags that must commit with them (the alert lifecycle), done as soon as
/// each rule's flags are all recorded rather than after the whole evaluation: the rules
/// raised from the records alone while the pass over everyone's results still runs on other
/// connections, then the rest once the outcomes and their flags are in. After a first import
/// of a 250,000-pupil school, opening the other rules' 23,810 alerts took 0.4 s that had
/// followed the stall pass's 0.8–1.0 s.
public struct FlagFollowUp {
    /// What `--timings` calls the work.
    public var name: String
    /// The work: on the evaluation's connection, in its transaction, for run `runID`, on the
    /// flags of the rules selected (each rule is given once per run).
    public var work: (PostgresConnection, Int64, RuleSelection) async throws -> Void

    /// Work `name`d on the flags, rule by rule.
    public init(name: String, work: @escaping (PostgresConnection, Int64, RuleSelection) async throws -> Void) {
        self.name = name
        self.work = work
    }
}
