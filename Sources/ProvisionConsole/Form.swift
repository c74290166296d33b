import Foundation
import Hummingbird

/// A submitted `application/x-www-form-urlencoded` body (or query), by field name.
struct Form: Sendable {
    private(set) var fields: [String: String] = [:]

    init(fields: [String: String]) { self.fields = fields }

    /// Parses `text`; a field given twice keeps its last value.
    init(encoded text: String) {
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let decode = { (part: Substring) in
                String(part).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            }
            guard let name = parts.first.map(decode), !name.isEmpty else { continue }
            fields[name] = parts.count > 1 ? decode(parts[1]) : ""
        }
    }

    /// The form of `request`'s body (at most 256 KiB).
    static func read(_ request: Request) async throws -> Form {
        var request = request
        let buffer = try await request.collectBody(upTo: 256 * 1024)
        return Form(encoded: String(buffer: buffer))
    }

    subscript(_ name: String) -> String? {
        let value = fields[name]?.trimmingCharacters(in: .whitespacesAndNewlines)
        return value?.isEmpty == true ? nil : value
    }

    /// The field `name`, or 400 naming it.
    func required(_ name: String, _ what: String) throws(ConsoleError) -> String {
        guard let value = self[name] else { throw .badRequest("\(what) is required (field \(name))") }
        return value
    }
}
