/// A JSON value that keeps booleans, numbers and strings apart (Foundation's
/// `JSONSerialization` on Linux lets `1` read as `true`), for validating untrusted records.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// Thrown for text that is not exactly one valid JSON value: what was wrong and where,
    /// never the text itself (it may be a line of pupil data).
    public struct InvalidJSON: Error, Sendable, CustomStringConvertible {
        /// What was wrong, as a fixed phrase ("a number is too large").
        public let reason: String
        /// The byte of the text where it was found, counted from 1; nil when the text ended
        /// first.
        public let byte: Int?

        init(_ failure: JSONParser.Failure) {
            reason = failure.reason.description
            byte = failure.atEnd ? nil : failure.offset + 1
        }

        public var description: String { byte.map { "\(reason) (at byte \($0))" } ?? "\(reason) (at the end)" }
    }

    /// Parses one JSON text (strictly: no trailing data, no invalid UTF-8, nesting ≤ 64).
    public static func parse(_ bytes: some Collection<UInt8>) throws(InvalidJSON) -> JSONValue {
        try parsing(bytes, JSONParser.parse)
    }

    /// Runs `parser` over `bytes` in contiguous memory (copied there if need be).
    static func parsing<Parsed>(
        _ bytes: some Collection<UInt8>, _ parser: (UnsafeBufferPointer<UInt8>) throws(JSONParser.Failure) -> Parsed
    ) throws(InvalidJSON) -> Parsed {
        let result = bytes.withContiguousStorageIfAvailable { buffer in
            Result { () throws(JSONParser.Failure) -> Parsed in try parser(buffer) }
        } ?? Array(bytes).withUnsafeBufferPointer { buffer in
            Result { () throws(JSONParser.Failure) -> Parsed in try parser(buffer) }
        }
        switch result {
        case .success(let value): return value
        case .failure(let failure): throw InvalidJSON(failure)
        }
    }

    /// Compact JSON text with keys sorted, so equal values serialise identically.
    public var serialized: String {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        write(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the compact JSON text as UTF-8 bytes.
    public func write(to out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let value): out.append(contentsOf: (value ? "true" : "false").utf8)
        case .number(let value): out.append(contentsOf: Self.numberText(value).utf8)
        case .string(let value): Self.writeString(value, to: &out)
        case .array(let values):
            out.append(UInt8(ascii: "["))
            for (index, value) in values.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                value.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            Self.writeObject(members.sorted { $0.key < $1.key }, to: &out)
        }
    }

    /// A number as JSON text, as ``write(to:)`` writes it: a whole number without a fraction.
    public static func numberText(_ value: Double) -> String {
        value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : "\(value)"
    }

    /// Appends an object of `members` in the order given, which must be by key with no key
    /// twice for the text to be canonical (as ``write(to:)`` writes an object): for writers
    /// that hold a record's members as a list rather than a dictionary.
    public static func writeObject(_ members: [(key: String, value: JSONValue)], to out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        for (index, member) in members.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            writeString(member.key, to: &out)
            out.append(UInt8(ascii: ":"))
            member.value.write(to: &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    static func writeString(_ value: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        // Most strings need no escape: copy them whole.
        let copied = value.utf8.withContiguousStorageIfAvailable { bytes -> Bool in
            guard !bytes.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else { return false }
            out.append(contentsOf: bytes)
            return true
        }
        if copied == true {
            out.append(UInt8(ascii: "\""))
            return
        }
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 15)]])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// The string, when this is one.
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The elements, when this is an array.
    public var arrayValue: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    /// The members, when this is an object.
    public var objectValue: [String: JSONValue]? {
        if case .object(let value) = self { return value }
        return nil
    }

    /// A short name of the value's kind, for error messages.
    public var kind: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}
