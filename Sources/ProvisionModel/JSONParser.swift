/// A strict JSON parser (RFC 8259) over bytes, for untrusted plugin output.
///
/// Written for the import hot path: one pass, no Foundation bridging, and no thrown error
/// per attempted type as a `Decodable` enum would need. Nesting is limited so a hostile
/// line cannot exhaust the stack.
struct JSONParser {
    /// Where and why parsing stopped: a fixed phrase and a byte offset, never the text itself
    /// (a line of pupil data may be what failed).
    struct Failure: Error {
        let reason: StaticString
        let offset: Int
        /// The text ended first (`offset` is its length).
        let atEnd: Bool

        // The reasons given at more than one place.
        static let notAValue: StaticString = "not a JSON value (true, false and null are lower case; strings need double quotes)"
        static let notUTF8: StaticString = "a string is not valid UTF-8"
        static let controlCharacter: StaticString = "a string holds a control character (a raw tab or line break?): escape it"
        static let unpairedSurrogate: StaticString = "a string has an unpaired surrogate (\\uD800–\\uDFFF)"
        static let notClosed: StaticString = "a string is not closed"
        static let shortEscape: StaticString = "a \\u escape needs four hex digits"
        static let repeatedKey: StaticString = "an object has the same key twice (which value is meant?)"
    }

    static let maxDepth = 64

    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0

    private init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    static func parse(_ bytes: UnsafeBufferPointer<UInt8>) throws(Failure) -> JSONValue {
        var parser = JSONParser(bytes)
        parser.skipWhitespace()
        let value = try parser.value(depth: 0)
        try parser.expectEnd()
        return value
    }

    /// Like ``parse(_:)``, with a top-level object's members kept in writing order.
    static func parseTopLevel(_ bytes: UnsafeBufferPointer<UInt8>) throws(Failure) -> JSONValue.TopLevel {
        var parser = JSONParser(bytes)
        parser.skipWhitespace()
        let top: JSONValue.TopLevel
        if parser.peek() == UInt8(ascii: "{") {
            var members: [(key: String, value: JSONValue)] = []
            members.reserveCapacity(16)
            try parser.members(depth: 0) { key, value in
                // A dozen short keys: comparing them beats hashing each into a set.
                let length = key.utf8.count
                guard !members.contains(where: { $0.key.utf8.count == length && $0.key == key }) else { return false }
                members.append((key, value))
                return true
            }
            top = .members(JSONMembers(ordered: members))
        } else {
            top = .other(try parser.value(depth: 0))
        }
        try parser.expectEnd()
        return top
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    private func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

    private func failure(_ reason: StaticString, at offset: Int? = nil) -> Failure {
        let offset = offset ?? index
        return Failure(reason: reason, offset: offset, atEnd: offset >= bytes.count)
    }

    /// Nothing but whitespace may follow the one value a text holds.
    private mutating func expectEnd() throws(Failure) {
        skipWhitespace()
        guard index == bytes.count else { throw failure("text follows the JSON value") }
    }

    private mutating func expect(_ literal: StaticString) throws(Failure) {
        let count = literal.utf8CodeUnitCount
        let start = literal.utf8Start
        for offset in 0..<count where index + offset >= bytes.count || bytes[index + offset] != start[offset] {
            throw failure(Failure.notAValue)
        }
        index += count
    }

    private mutating func value(depth: Int) throws(Failure) -> JSONValue {
        guard depth < Self.maxDepth else { throw failure("nested more than 64 levels deep") }
        guard let byte = peek() else { throw failure("ends where a value was expected") }
        switch byte {
        case UInt8(ascii: "{"): return try object(depth: depth)
        case UInt8(ascii: "["): return try array(depth: depth)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"):
            try expect("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expect("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try expect("null")
            return .null
        default: return .number(try number())
        }
    }

    private mutating func object(depth: Int) throws(Failure) -> JSONValue {
        var members: [String: JSONValue] = [:]
        members.reserveCapacity(16)
        try self.members(depth: depth) { members.updateValue($1, forKey: $0) == nil }
        return .object(members)
    }

    /// Reads an object from its `{`, handing each member to `add` in the order written; `add`
    /// answers false for a key it was given before. A key written twice is refused rather
    /// than read as its last value (as I-JSON, RFC 7493, requires): in a pupil's record two
    /// `upn`s are a plugin's mistake, and guessing which was meant could file a result
    /// under the wrong child.
    private mutating func members(depth: Int, _ add: (String, JSONValue) -> Bool) throws(Failure) {
        index += 1
        skipWhitespace()
        if peek() == UInt8(ascii: "}") {
            index += 1
            return
        }
        while true {
            skipWhitespace()
            guard peek() == UInt8(ascii: "\"") else { throw failure("an object's key must be a string in double quotes") }
            let keyStart = index
            let key = try string()
            skipWhitespace()
            guard peek() == UInt8(ascii: ":") else { throw failure("expected ':' after an object's key") }
            index += 1
            skipWhitespace()
            guard add(key, try value(depth: depth + 1)) else { throw failure(Failure.repeatedKey, at: keyStart) }
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"):
                index += 1
                return
            default: throw failure("expected ',' or '}' after an object's member")
            }
        }
    }

    private mutating func array(depth: Int) throws(Failure) -> JSONValue {
        index += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if peek() == UInt8(ascii: "]") {
            index += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try value(depth: depth + 1))
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"):
                index += 1
                return .array(elements)
            default: throw failure("expected ',' or ']' after an array's element")
            }
        }
    }

    private mutating func string() throws(Failure) -> String {
        index += 1
        let start = index
        // Fast path: no escapes, valid UTF-8 checked by String(validating:). ASCII is valid
        // UTF-8 already, and String(decoding:) makes it without validating's generic overhead.
        var ascii = true
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let slice = UnsafeBufferPointer(rebasing: bytes[start..<index])
                index += 1
                if ascii { return String(decoding: slice, as: UTF8.self) }
                guard let text = String(validating: slice, as: UTF8.self) else { throw failure(Failure.notUTF8, at: start) }
                return text
            }
            ascii = ascii && byte < 0x80
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw failure(Failure.controlCharacter) }
            index += 1
        }
        var scalars: [UInt8] = Array(UnsafeBufferPointer(rebasing: bytes[start..<index]))
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                guard let text = String(validating: scalars, as: UTF8.self) else { throw failure(Failure.notUTF8, at: start) }
                return text
            case UInt8(ascii: "\\"):
                guard let escape = peek() else { throw failure(Failure.notClosed) }
                index += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scalars.append(escape)
                case UInt8(ascii: "b"): scalars.append(0x08)
                case UInt8(ascii: "f"): scalars.append(0x0C)
                case UInt8(ascii: "n"): scalars.append(0x0A)
                case UInt8(ascii: "r"): scalars.append(0x0D)
                case UInt8(ascii: "t"): scalars.append(0x09)
                case UInt8(ascii: "u"):
                    var code = try hex4()
                    if (0xD800...0xDBFF).contains(code) {
                        guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                            throw failure(Failure.unpairedSurrogate)
                        }
                        index += 2
                        let low = try hex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw failure(Failure.unpairedSurrogate) }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(code) {
                        throw failure(Failure.unpairedSurrogate)
                    }
                    guard let scalar = Unicode.Scalar(code) else { throw failure(Failure.unpairedSurrogate) }
                    scalars.append(contentsOf: Array(String(Character(scalar)).utf8))
                default: throw failure("a string has an unknown escape after a backslash", at: index - 2)
                }
            default:
                if byte < 0x20 { throw failure(Failure.controlCharacter, at: index - 1) }
                scalars.append(byte)
            }
        }
        throw failure(Failure.notClosed, at: start - 1)
    }

    private mutating func hex4() throws(Failure) -> UInt32 {
        guard index + 4 <= bytes.count else { throw failure(Failure.shortEscape) }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            index += 1
            let digit: UInt8
            switch byte {
            case 0x30...0x39: digit = byte - 0x30
            case 0x41...0x46: digit = byte - 0x41 + 10
            case 0x61...0x66: digit = byte - 0x61 + 10
            default: throw failure(Failure.shortEscape, at: index - 1)
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    /// JSON number grammar, then the standard library's correctly rounded conversion.
    private mutating func number() throws(Failure) -> Double {
        let start = index
        if peek() == UInt8(ascii: "-") { index += 1 }
        guard let first = peek(), first >= 0x30, first <= 0x39 else { throw failure(Failure.notAValue) }
        index += 1
        if first != 0x30 { digits() }
        if peek() == UInt8(ascii: ".") {
            index += 1
            guard let digit = peek(), digit >= 0x30, digit <= 0x39 else { throw failure("a number needs digits after its decimal point") }
            digits()
        }
        if let e = peek(), e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
            index += 1
            if let sign = peek(), sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") { index += 1 }
            guard let digit = peek(), digit >= 0x30, digit <= 0x39 else { throw failure("a number needs digits in its exponent") }
            digits()
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        guard let value = Double(text), value.isFinite else { throw failure("a number is too large", at: start) }
        return value
    }

    private mutating func digits() {
        while let byte = peek(), byte >= 0x30, byte <= 0x39 { index += 1 }
    }
}
