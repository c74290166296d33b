/// Finds the line on which each key of a TOML document is written.
///
/// TOMLKit gives positions for parse errors only, so a key's line is found by reading the
/// text the way TOML lays it out: `[table]` and `[[array]]` headers set the current table,
/// `key = value` lines name keys in it. Paths look like `sources#2.plugin` (`#n` counts
/// entries of an array of tables from 1).
struct KeyLocator {
    private var lines: [String: Int] = [:]

    init(text: String) {
        var current: [String] = []
        var arrayCounts: [String: Int] = [:]
        var insideMultilineString: String?
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if let delimiter = insideMultilineString {
                if line.contains(delimiter) { insideMultilineString = nil }
                continue
            }
            if line.hasPrefix("[[") {
                let name = Self.headerName(line.dropFirst(2))
                let count = (arrayCounts[name] ?? 0) + 1
                arrayCounts[name] = count
                // Nested arrays of tables restart their count under a new parent; rare in our files.
                current = [name + "#\(count)"]
                record(current.joined(separator: "."), lineNumber)
            } else if line.hasPrefix("[") {
                let name = Self.headerName(line.dropFirst())
                current = Self.resolve(name, arrayCounts: arrayCounts)
                record(current.joined(separator: "."), lineNumber)
            } else if let key = Self.keyName(line) {
                record((current + [key]).joined(separator: "."), lineNumber)
                for delimiter in ["\"\"\"", "'''"] {
                    let parts = line.components(separatedBy: delimiter)
                    if parts.count == 2 { insideMultilineString = delimiter }
                }
            }
        }
    }

    /// The line of `path`, or of its nearest enclosing table that has a line.
    func line(of path: String) -> Int? {
        var candidate = path
        while true {
            if let line = lines[candidate] { return line }
            guard let dot = candidate.lastIndex(of: ".") else { return nil }
            candidate = String(candidate[..<dot])
        }
    }

    private mutating func record(_ path: String, _ line: Int) {
        if lines[path] == nil { lines[path] = line }
    }

    private static func headerName(_ rest: Substring) -> String {
        let name = rest.prefix { $0 != "]" }
        return name.split(separator: ".").map { $0.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\"'")) }.joined(separator: ".")
    }

    /// `[sources.env]` after `[[sources]]` means the env table of the latest source.
    private static func resolve(_ name: String, arrayCounts: [String: Int]) -> [String] {
        let parts = name.split(separator: ".").map(String.init)
        var resolved: [String] = []
        var prefix = ""
        for part in parts {
            prefix = prefix.isEmpty ? part : prefix + "." + part
            if let count = arrayCounts[prefix], resolved.count == prefix.split(separator: ".").count - 1 {
                resolved.append(part + "#\(count)")
            } else {
                resolved.append(part)
            }
        }
        return [resolved.joined(separator: ".")]
    }

    /// The key of a `key = value` line (dotted keys kept dotted), or nil for other lines.
    private static func keyName(_ line: String) -> String? {
        guard let first = line.first, first.isLetter || first.isNumber || first == "_" || first == "\"" else {
            return nil
        }
        guard let equals = line.firstIndex(of: "=") else { return nil }
        let key = line[..<equals].trimmingCharacters(in: .whitespaces)
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "_-.\" "))
        guard !key.isEmpty, key.unicodeScalars.allSatisfy(allowed.contains) else { return nil }
        return key.split(separator: ".").map {
            $0.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        }.joined(separator: ".")
    }
}

import Foundation

/// A document's ``KeyLocator``, made the first time an error needs a line: reading the text
/// line by line again was half the time of loading a configuration of 600 sources (50 ms, on
/// every `provisionctl` command), and a valid file never needs it.
final class LazyKeyLocator {
    private let text: String
    private(set) lazy var located = KeyLocator(text: text)

    init(text: String) { self.text = text }
}
