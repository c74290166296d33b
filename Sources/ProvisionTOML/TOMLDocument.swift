import Foundation
import TOMLKit

/// A parsed TOML file that remembers where each key is written, so every error can name the
/// file, the line and the key.
///
/// Used for the product's configuration, plugin manifests and CSV mapping files.
public struct TOMLDocument {
    /// The file's path as given (used in messages).
    public let file: String
    /// The top-level table.
    public let root: TOMLSection

    /// Parses `text`; `file` is only used to label errors.
    public init(text: String, file: String) throws(ConfigError) {
        self.file = file
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ConfigError(file: file, line: error.source.begin.line, message: "not valid TOML: \(error.description)")
        } catch {
            throw ConfigError(file: file, message: "not valid TOML: \(error)")
        }
        root = TOMLSection(table: table, path: "", file: file, locator: LazyKeyLocator(text: text))
    }

    /// Reads and parses the file at `path`.
    public init(contentsOf path: String) throws(ConfigError) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot be read as UTF-8 text" : "does not exist"
            throw ConfigError(file: path, message: "the file \(reason)")
        }
        try self.init(text: text, file: path)
    }
}

/// One table of a ``TOMLDocument``. Accessors record which keys were read; ``finish()``
/// then refuses any key nobody asked for, so a misspelt key is an error rather than a
/// silently ignored setting.
public final class TOMLSection {
    let table: TOMLTable
    /// Internal path: `sources#2.env` (`#n` is the 1-based entry of an array of tables).
    let path: String
    /// The file the section is in, for errors.
    public let file: String
    let locator: LazyKeyLocator
    private var consumed: Set<String> = []

    init(table: TOMLTable, path: String, file: String, locator: LazyKeyLocator) {
        self.table = table
        self.path = path
        self.file = file
        self.locator = locator
    }

    /// The keys present in this table.
    public var keys: [String] { table.keys }

    /// Builds an error about `key` in this table (or about the table itself when `key` is nil).
    public func error(_ key: String?, _ message: String) -> ConfigError {
        let internalPath = key.map { path.isEmpty ? $0 : path + "." + $0 } ?? path
        return ConfigError(
            file: file, line: locator.located.line(of: internalPath),
            key: internalPath.isEmpty ? nil : Self.display(internalPath), message: message)
    }

    /// `sources#2.plugin` → `sources[2].plugin`.
    static func display(_ path: String) -> String {
        path.replacingOccurrences(of: #"#(\d+)"#, with: "[$1]", options: .regularExpression)
    }

    private func value(_ key: String) -> (any TOMLValueConvertible)? {
        consumed.insert(key)
        return table[key]
    }

    private func missing(_ key: String) -> ConfigError {
        error(key, "is required but missing")
    }

    /// The string at `key`; nil when absent; an error naming the line when it is not a string.
    public func string(_ key: String) throws(ConfigError) -> String? {
        guard let raw = value(key) else { return nil }
        guard let text = raw.string else { throw error(key, "must be a string, got \(raw.type)") }
        return text
    }

    /// The string at `key`; an error naming the section when it is absent.
    public func requiredString(_ key: String) throws(ConfigError) -> String {
        guard let text = try string(key) else { throw missing(key) }
        guard !text.allSatisfy(\.isWhitespace) else { throw error(key, "must not be empty") }
        return text
    }

    /// The integer at `key`, checked against `range`; nil when absent.
    public func int(_ key: String, range: ClosedRange<Int>? = nil) throws(ConfigError) -> Int? {
        guard let raw = value(key) else { return nil }
        guard let number = raw.int else { throw error(key, "must be a whole number, got \(raw.type)") }
        if let range, !range.contains(number) {
            throw error(key, "must be between \(range.lowerBound) and \(range.upperBound), got \(number)")
        }
        return number
    }

    /// The number at `key` (an integer is accepted), checked against `range`; nil when absent.
    public func double(_ key: String, range: ClosedRange<Double>? = nil) throws(ConfigError) -> Double? {
        guard let raw = value(key) else { return nil }
        guard let number = raw.double ?? raw.int.map(Double.init) else {
            throw error(key, "must be a number, got \(raw.type)")
        }
        if let range, !range.contains(number) {
            throw error(key, "must be between \(range.lowerBound) and \(range.upperBound), got \(number)")
        }
        return number
    }

    /// The boolean at `key`; nil when absent.
    public func bool(_ key: String) throws(ConfigError) -> Bool? {
        guard let raw = value(key) else { return nil }
        guard let flag = raw.bool else { throw error(key, "must be true or false, got \(raw.type)") }
        return flag
    }

    /// An array of strings; a single string is not accepted, to catch `schools = "139001"`.
    public func stringArray(_ key: String) throws(ConfigError) -> [String]? {
        guard let raw = value(key) else { return nil }
        guard let array = raw.array else { throw error(key, "must be an array of strings, got \(raw.type)") }
        var strings: [String] = []
        for (index, element) in array.enumerated() {
            guard let text = element.string else {
                throw error(key, "element \(index + 1) must be a string, got \(element.type)")
            }
            strings.append(text)
        }
        return strings
    }

    /// A table whose values are all strings (for example a source's `env`).
    public func stringTable(_ key: String) throws(ConfigError) -> [String: String]? {
        guard let raw = value(key) else { return nil }
        guard let inner = raw.table else { throw error(key, "must be a table of strings, got \(raw.type)") }
        var result: [String: String] = [:]
        for name in inner.keys {
            guard let text = inner[name]?.string else {
                throw error(key + "." + name, "must be a string")
            }
            result[name] = text
        }
        return result
    }

    /// A sub-table, or nil when absent.
    public func section(_ key: String) throws(ConfigError) -> TOMLSection? {
        guard let raw = value(key) else { return nil }
        guard let inner = raw.table else { throw error(key, "must be a table ([\(key)]), got \(raw.type)") }
        return TOMLSection(table: inner, path: path.isEmpty ? key : path + "." + key, file: file, locator: locator)
    }

    /// The entries of an array of tables (`[[key]]`), empty when absent.
    public func sections(_ key: String) throws(ConfigError) -> [TOMLSection] {
        guard let raw = value(key) else { return [] }
        guard let array = raw.array else { throw error(key, "must be an array of tables ([[\(key)]]), got \(raw.type)") }
        var result: [TOMLSection] = []
        for (index, element) in array.enumerated() {
            guard let inner = element.table else {
                throw error(key, "entry \(index + 1) must be a table, got \(element.type)")
            }
            let entryPath = (path.isEmpty ? key : path + "." + key) + "#\(index + 1)"
            result.append(TOMLSection(table: inner, path: entryPath, file: file, locator: locator))
        }
        return result
    }

    /// Refuses keys that no accessor read, suggesting the closest known key.
    ///
    /// - Parameter known: keys that are valid here but were not read (used for suggestions).
    public func finish(alsoKnown known: [String] = []) throws(ConfigError) {
        let unknown = table.keys.filter { !consumed.contains($0) }
            .sorted { (locator.located.line(of: childPath($0)) ?? 0) < (locator.located.line(of: childPath($1)) ?? 0) }
        guard let first = unknown.first else { return }
        let candidates = Array(consumed) + known
        var message = "is not a known setting"
        if let suggestion = Self.closest(to: first, in: candidates) {
            message += "; did you mean '\(suggestion)'?"
        } else if !candidates.isEmpty {
            message += "; known here: \(candidates.sorted().joined(separator: ", "))"
        }
        throw error(first, message)
    }

    private func childPath(_ key: String) -> String { path.isEmpty ? key : path + "." + key }

    static func closest(to word: String, in candidates: [String]) -> String? {
        let scored = candidates.map { ($0, editDistance(word.lowercased(), $0.lowercased())) }
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= max(2, word.count / 3) else { return nil }
        return best.0
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
