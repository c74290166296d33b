/// A problem in a configuration, manifest or mapping file, with where it is.
///
/// Printed like a compiler diagnostic (`provision.toml:12: key 'plugins.timeout_seconds': …`)
/// so the person fixing it can go straight to the line. The command line exits 78 for these.
public struct ConfigError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The file the problem is in.
    public var file: String
    /// The 1-based line, when known.
    public var line: Int?
    /// The dotted key the problem is about (`sources.schedule`), when there is one.
    public var key: String?
    /// What is wrong, and what would be right.
    public var message: String

    /// A problem in `file` at `line` with `key`.
    public init(file: String, line: Int? = nil, key: String? = nil, message: String) {
        self.file = file
        self.line = line
        self.key = key
        self.message = message
    }

    public var description: String {
        var text = file
        if let line { text += ":\(line)" }
        text += ": "
        if let key { text += "key '\(key)': " }
        return text + message
    }
}
