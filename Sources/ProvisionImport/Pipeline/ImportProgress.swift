import ProvisionModel

/// How far a running import has got: what `provisionctl import` shows at a terminal and
/// what the daemon's `/metrics` exports while the import runs. Counts only, never a record.
public struct ImportProgress: Sendable, Equatable {
    /// Where the run is.
    public enum Phase: String, Sendable {
        /// The plugin's records are being read, validated and staged.
        case reading
        /// Everything is staged; the merge into the tables runs (one statement per table).
        case merging
    }

    /// The source being imported.
    public var source: String
    /// Where the run is.
    public var phase: Phase
    /// Lines of plugin output read so far.
    public var records: Int
    /// Bytes of plugin output read so far.
    public var bytes: Int
    /// Time since the plugin's first line was read.
    public var elapsed: Duration
    /// Lines the source's last successful run read (its records, the header and the end),
    /// which a nightly export of the same school is nearly always close to; nil for a
    /// source's first run, whose size nothing tells.
    public var expectedRecords: Int? = nil

    /// Records per second so far (0 before the first second has any).
    public var rate: Double {
        elapsed.seconds > 0 ? Double(records) / elapsed.seconds : 0
    }

    /// About how long reading will take yet, at the rate so far, if this run is the size of
    /// the last; nil when that cannot be told (a first run, no rate yet, or already past the
    /// last run's size).
    public var timeLeft: Duration? {
        guard let expectedRecords, expectedRecords > records, rate > 0 else { return nil }
        return .seconds(Double(expectedRecords - records) / rate)
    }
}
