import ProvisionModel

/// Why one record was rejected. Messages name the field and what was expected, and never
/// repeat personal values (names, UPNs, dates of birth) so they are safe in reports.
struct RecordProblem: Error {
    let message: String
    /// Messages echo plugin text (codes, dates): control characters are escaped here, once.
    init(_ message: String) { self.message = EscapedText.escaped(message) }
}

/// Reads the fields of one untrusted record, normalising as it goes (trimmed strings, empty
/// optional strings treated as absent) and building the canonical document that is staged.
struct FieldReader {
    let type: String
    let fields: JSONMembers
    private(set) var output: JSONMembers

    init(type: String, fields: JSONMembers) {
        self.type = type
        self.fields = fields
        output = JSONMembers(capacity: fields.count + 1)
    }

    /// A reader of a nested object's members.
    init(type: String, fields: [String: JSONValue]) {
        self.init(type: type, fields: JSONMembers(fields))
    }

    private func problem(_ key: String, _ message: String) -> RecordProblem {
        RecordProblem("\(type).\(key) \(message)")
    }

    private func present(_ key: String) -> JSONValue? {
        guard let value = fields[key] else { return nil }
        if case .null = value { return nil }
        if case .string(let text) = value, text.unicodeScalars.allSatisfy(\.isWhitespace) { return nil }
        return value
    }

    // MARK: Strings

    /// A string, trimmed. `lines` allows line breaks, for free text a person writes over several
    /// lines (a plan's strategies, a target: a spreadsheet cell with Alt+Enter in it); they are
    /// stored as `\n` whether the file wrote CRLF, CR or LF.
    mutating func string(
        _ key: String, required: Bool = false, maxLength: Int = 200, lines: Bool = false
    ) throws(RecordProblem) -> String? {
        guard let value = present(key) else {
            if required { throw problem(key, "is required") }
            return nil
        }
        guard case .string(let raw) = value else { throw problem(key, "must be a string, got \(value.kind)") }
        var text = raw.trimmedWhitespace
        if lines && text.utf8.contains(0x0D) {
            text = text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
        }
        guard Self.fits(text, maxLength) else { throw problem(key, "is longer than \(maxLength) characters") }
        if let problem = HiddenCharacters.problem(in: text, lineBreaks: lines) { throw self.problem(key, problem) }
        output.set(key, .string(text))
        return text
    }

    /// Whether `text` is at most `maxLength` characters. Bytes bound characters from above,
    /// so counting characters is rarely needed.
    private static func fits(_ text: String, _ maxLength: Int) -> Bool {
        text.utf8.count <= maxLength || text.count <= maxLength
    }

    mutating func requiredString(_ key: String, maxLength: Int = 200, lines: Bool = false) throws(RecordProblem) -> String {
        guard let text = try string(key, required: true, maxLength: maxLength, lines: lines) else { throw problem(key, "is required") }
        return text
    }

    /// A value from a closed vocabulary; the value is echoed since codes are not personal.
    mutating func code(_ key: String, in allowed: Set<String>, required: Bool = false) throws(RecordProblem) -> String? {
        guard let text = try string(key, required: required, maxLength: 40) else { return nil }
        guard allowed.contains(text) else {
            throw problem(key, "'\(text)' is not one of \(allowed.sorted().joined(separator: ", "))")
        }
        return text
    }

    mutating func urn(_ key: String) throws(RecordProblem) -> String {
        let urn = try requiredString(key, maxLength: 20)
        guard urn.utf8.count == 6, urn.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
            throw problem(key, "must be a six-digit URN, got '\(urn)'")
        }
        return urn
    }

    /// A UPN: a wrong shape rejects the record; a wrong check letter is returned as a warning.
    mutating func upn(_ key: String) throws(RecordProblem) -> (upn: String, warning: String?) {
        let given = try requiredString(key, maxLength: 20)
        // UPNs nearly always arrive as upper-case ASCII, which `uppercased()` would copy.
        let upn = given.utf8.allSatisfy({ $0 < 0x80 && !(0x61...0x7A).contains($0) }) ? given : given.uppercased()
        switch UPN.read(upn) {
        case .malformed(let shape):
            throw problem(key, "is malformed: \(shape)")
        case .wellFormed(let expected, let matches):
            output.set(key, .string(upn))
            if !matches {
                return (upn, "UPN check letter does not match the DfE algorithm (expected \(expected)); correct it in the MIS")
            }
            return (upn, nil)
        }
    }

    // MARK: Dates and numbers

    /// A `YYYY-MM-DD` date. `personal` dates (date of birth) are not echoed in messages.
    mutating func date(_ key: String, required: Bool = false, personal: Bool = false) throws(RecordProblem) -> SchoolDate? {
        guard let value = present(key) else {
            if required { throw problem(key, "is required") }
            return nil
        }
        guard case .string(let raw) = value else { throw problem(key, "must be a date string YYYY-MM-DD, got \(value.kind)") }
        let text = raw.trimmedWhitespace
        guard let date = SchoolDate(iso: text) else {
            throw problem(key, personal ? "is not a real date in the form YYYY-MM-DD" : "'\(text)' is not a real date in the form YYYY-MM-DD")
        }
        // A date that parsed is ten bytes of YYYY-MM-DD: already in canonical form.
        output.set(key, .string(text))
        return date
    }

    mutating func number(_ key: String, required: Bool = false, range: ClosedRange<Double>? = nil) throws(RecordProblem) -> Double? {
        guard let value = present(key) else {
            if required { throw problem(key, "is required") }
            return nil
        }
        guard case .number(let number) = value, number.isFinite else {
            throw problem(key, "must be a number, got \(value.kind)")
        }
        if let range, !range.contains(number) {
            throw problem(key, "must be between \(Self.format(range.lowerBound)) and \(Self.format(range.upperBound)), got \(Self.format(number))")
        }
        output.set(key, .number(number))
        return number
    }

    mutating func integer(_ key: String, range: ClosedRange<Int>) throws(RecordProblem) -> Int? {
        // number(_:range:) has checked the range, so the conversion below cannot trap.
        guard let value = try number(key, range: Double(range.lowerBound)...Double(range.upperBound)) else { return nil }
        guard value.rounded() == value else { throw problem(key, "must be a whole number, got \(Self.format(value))") }
        return Int(value)
    }

    mutating func bool(_ key: String) throws(RecordProblem) -> Bool? {
        guard let value = present(key) else { return nil }
        guard case .bool(let flag) = value else { throw problem(key, "must be true or false, got \(value.kind)") }
        output.set(key, .bool(flag))
        return flag
    }

    // MARK: Structure

    func object(_ key: String) throws(RecordProblem) -> [String: JSONValue]? {
        guard let value = present(key) else { return nil }
        guard case .object(let members) = value else { throw problem(key, "must be an object, got \(value.kind)") }
        return members
    }

    func array(_ key: String) throws(RecordProblem) -> [JSONValue]? {
        guard let value = present(key) else { return nil }
        guard case .array(let elements) = value else { throw problem(key, "must be an array, got \(value.kind)") }
        return elements
    }

    /// An array of identifiers (staff or provision ids): non-empty strings, trimmed, each held
    /// to what a single one is; kept in the output, nil when absent.
    mutating func stringArray(_ key: String, maxLength: Int = 80) throws(RecordProblem) -> [String]? {
        guard let elements = try array(key) else { return nil }
        var strings: [String] = []
        for element in elements {
            guard let text = element.stringValue?.trimmedWhitespace, !text.isEmpty else {
                throw problem(key, "must be an array of non-empty strings")
            }
            guard Self.fits(text, maxLength) else { throw problem(key, "has an element longer than \(maxLength) characters") }
            if let problem = HiddenCharacters.problem(in: text) { throw self.problem(key, "has an element that \(problem)") }
            strings.append(text)
        }
        set(key, .array(strings.map(JSONValue.string)))
        return strings
    }

    mutating func set(_ key: String, _ value: JSONValue) { output.set(key, value) }

    /// Reads a nested object with its own reader, naming fields `parent.child` in messages.
    func nested(_ key: String, _ members: [String: JSONValue]) -> FieldReader {
        FieldReader(type: "\(type).\(key)", fields: members)
    }

    static func format(_ value: Double) -> String {
        value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}
