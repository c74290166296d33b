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
    /// Time since the plugin started.
    public var elapsed: Duration

    /// Records per second so far (0 before the first second has any).
    public var rate: Double {
        elapsed.seconds > 0 ? Double(records) / elapsed.seconds : 0
    }
}
