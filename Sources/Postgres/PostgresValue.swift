import Foundation

/// A Swift value that can be bound to a statement parameter.
///
/// Values travel in PostgreSQL's text format; `nil` means SQL NULL. The server infers each
/// parameter's type from the statement, so write casts (`$1::date`) where it cannot.
public protocol PostgresEncodable: Sendable {
    /// The text form PostgreSQL parses, or `nil` for NULL.
    var postgresText: String? { get }
}

/// A Swift value that can be read from a result column.
public protocol PostgresDecodable: Sendable {
    /// Reads a value from its text form; `text` is `nil` for SQL NULL.
    static func decode(postgresText text: String?, column: String) throws -> Self
}

/// A value that is never NULL and is read from non-nil text.
public protocol PostgresTextDecodable: PostgresDecodable {
    init?(postgresText text: String)
}

extension PostgresTextDecodable {
    public static func decode(postgresText text: String?, column: String) throws -> Self {
        guard let text else {
            throw PostgresError(
                code: .decoding, message: "value is NULL, but \(Self.self) was expected", column: column)
        }
        guard let value = Self(postgresText: text) else {
            throw PostgresError(
                code: .decoding, message: "cannot read \(text.debugDescription) as \(Self.self)",
                column: column)
        }
        return value
    }
}

extension Optional: PostgresEncodable where Wrapped: PostgresEncodable {
    public var postgresText: String? { self?.postgresText }
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public static func decode(postgresText text: String?, column: String) throws -> Self {
        guard let text else { return nil }
        return try Wrapped.decode(postgresText: text, column: column)
    }
}

extension String: PostgresEncodable, PostgresTextDecodable {
    public var postgresText: String? { self }
    public init?(postgresText text: String) { self = text }
}

extension Substring: PostgresEncodable {
    public var postgresText: String? { String(self) }
}

extension Int: PostgresEncodable, PostgresTextDecodable {
    public var postgresText: String? { String(self) }
    public init?(postgresText text: String) { self.init(text) }
}

extension Int32: PostgresEncodable, PostgresTextDecodable {
    public var postgresText: String? { String(self) }
    public init?(postgresText text: String) { self.init(text) }
}

extension Int64: PostgresEncodable, PostgresTextDecodable {
    public var postgresText: String? { String(self) }
    public init?(postgresText text: String) { self.init(text) }
}

extension Double: PostgresEncodable, PostgresTextDecodable {
    public var postgresText: String? {
        if isNaN { return "NaN" }
        if isInfinite { return self < 0 ? "-Infinity" : "Infinity" }
        return "\(self)"
    }
    public init?(postgresText text: String) {
        switch text {
        case "NaN": self = .nan
        case "Infinity": self = .infinity
        case "-Infinity": self = -.infinity
        default: self.init(text)
        }
    }
}

extension Bool: PostgresEncodable, PostgresTextDecodable {
    public var postgresText: String? { self ? "true" : "false" }
    public init?(postgresText text: String) {
        switch text {
        case "t", "true": self = true
        case "f", "false": self = false
        default: return nil
        }
    }
}

extension UUID: PostgresEncodable, PostgresTextDecodable {
    public var postgresText: String? { uuidString.lowercased() }
    public init?(postgresText text: String) { self.init(uuidString: text) }
}

extension Date: PostgresEncodable, PostgresTextDecodable {
    /// Sent as an ISO 8601 instant in UTC, for `timestamptz` columns.
    public var postgresText: String? {
        let seconds = timeIntervalSince1970
        let whole = seconds.rounded(.down)
        let micros = Int(((seconds - whole) * 1_000_000).rounded())
        var time = time_t(whole)
        var parts = tm()
        gmtime_r(&time, &parts)
        return String(
            format: "%04d-%02d-%02d %02d:%02d:%02d.%06d+00", Int(parts.tm_year) + 1900,
            Int(parts.tm_mon) + 1, Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min),
            Int(parts.tm_sec), micros)
    }

    /// Reads `timestamptz` text as the session prints it (ISO DateStyle, UTC time zone,
    /// which every connection sets): `2026-11-29 01:26:14.123456+00`.
    public init?(postgresText text: String) {
        let scalars = Array(text.utf8)
        guard scalars.count >= 19 else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= scalars.count else { return nil }
            var value = 0
            for byte in scalars[range] {
                guard byte >= 48, byte <= 57 else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
            let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19)
        else { return nil }
        var index = 19
        var fraction = 0.0
        if index < scalars.count, scalars[index] == UInt8(ascii: ".") {
            index += 1
            var scale = 0.1
            while index < scalars.count, scalars[index] >= 48, scalars[index] <= 57 {
                fraction += Double(scalars[index] - 48) * scale
                scale /= 10
                index += 1
            }
        }
        var offsetSeconds = 0
        if index < scalars.count {
            let sign = scalars[index] == UInt8(ascii: "-") ? -1 : 1
            guard let hours = number((index + 1)..<(index + 3)) else { return nil }
            var minutes = 0
            if index + 3 < scalars.count, scalars[index + 3] == UInt8(ascii: ":") {
                minutes = number((index + 4)..<(index + 6)) ?? 0
            }
            offsetSeconds = sign * (hours * 3600 + minutes * 60)
        }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(second)
        let epoch = timegm(&parts)
        self.init(timeIntervalSince1970: Double(epoch - offsetSeconds) + fraction)
    }
}

extension Array: PostgresEncodable where Element == String {
    /// A PostgreSQL array literal (`{"a","b"}`), every element quoted and escaped; bind it
    /// with a cast such as `$1::text[]`.
    public var postgresText: String? {
        // Built in one pass: escaping each element with Foundation's replacingOccurrences
        // was 6% of an evaluation's own CPU (the flags' and outcomes' arrays).
        var literal = "{"
        literal.reserveCapacity(reduce(2) { $0 + $1.utf8.count + 3 })
        for (index, element) in enumerated() {
            if index > 0 { literal.append(",") }
            literal.append("\"")
            if element.utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\"") }) {
                for character in element.unicodeScalars {
                    if character == "\\" || character == "\"" { literal.append("\\") }
                    literal.unicodeScalars.append(character)
                }
            } else {
                literal.append(element)
            }
            literal.append("\"")
        }
        literal.append("}")
        return literal
    }
}
