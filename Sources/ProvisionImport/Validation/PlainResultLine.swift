import ProvisionModel

/// A valid result line of the plain shape read straight from its bytes, without a JSON tree.
///
/// Three in four lines of a large import are results, nearly all written the same way: one
/// object of the eight members a result has, each once, strings of printable ASCII with no
/// escape, no space around a value, and a value the validator takes without a warning.
/// Parsing such a line into members and reading them back by name was most of the
/// supervisor's work for it. A line of that shape is read here in one pass and checked by the
/// same rules as ``RecordRules`` (the test `PlainResultLineTests` holds the two to the same
/// records). Any other line, and any line that would be rejected or warned about, is
/// answered nil and takes the general path, which words the reason.
enum PlainResultLine {
    /// The record `line` holds when it is a valid result of the plain shape, else nil.
    static func read(_ line: UnsafeBufferPointer<UInt8>) -> ValidRecord? {
        var scanner = PlainLineScanner(bytes: line)
        var found = Found()
        scanner.skipWhitespace()
        guard scanner.take(UInt8(ascii: "{")) else { return nil }
        repeat {
            scanner.skipWhitespace()
            guard let key = scanner.plainString(), let member = Member(line, key), found[member] == nil else { return nil }
            scanner.skipWhitespace()
            guard scanner.take(UInt8(ascii: ":")) else { return nil }
            scanner.skipWhitespace()
            guard let value = member == .value ? scanner.number() : scanner.plainString() else { return nil }
            found[member] = value
            scanner.skipWhitespace()
        } while scanner.take(UInt8(ascii: ","))
        guard scanner.take(UInt8(ascii: "}")) else { return nil }
        scanner.skipWhitespace()
        guard scanner.atEnd else { return nil }

        func text(_ member: Member) -> UnsafeBufferPointer<UInt8>? {
            found[member].map { UnsafeBufferPointer(rebasing: line[$0]) }
        }
        guard let type = text(.type), PlainLineScanner.equal(type, "assessment"),
              let urn = text(.schoolURN).flatMap(PlainLineScanner.urn),
              let upn = text(.upn).flatMap(PlainLineScanner.upn), case .wellFormed = UPN.read(upn),
              let instrument = text(.instrument).flatMap({ PlainLineScanner.asIs($0, maxLength: 60) }),
              let subject = text(.subject).flatMap({ PlainLineScanner.asIs($0, maxLength: 60) }),
              let measure = text(.measure).flatMap(Self.measure),
              let valueBytes = text(.value), let value = Self.number(valueBytes), Self.takesWithoutWarning(value, measure: measure),
              let date = text(.date).flatMap(PlainLineScanner.date)
        else { return nil }
        return ValidRecord(
            schoolURN: urn,
            result: ResultFields(
                upn: upn, instrument: instrument, subject: subject, measure: measure, value: value,
                valueText: Self.isWhole(valueBytes) ? PlainLineScanner.string(valueBytes) : JSONValue.numberText(value), date: date),
            warning: nil)
    }

    /// The members a result has.
    private enum Member {
        case type, schoolURN, upn, instrument, subject, measure, value, date

        /// The member `key` (a range of `line`) names; nil for any other key.
        init?(_ line: UnsafeBufferPointer<UInt8>, _ key: Range<Int>) {
            let name = UnsafeBufferPointer(rebasing: line[key])
            let member: Member
            switch name.count {
            case 3: member = .upn
            case 4: member = name.first == UInt8(ascii: "t") ? .type : .date
            case 5: member = .value
            case 7: member = name.first == UInt8(ascii: "s") ? .subject : .measure
            case 10: member = name.first == UInt8(ascii: "s") ? .schoolURN : .instrument
            default: return nil
            }
            guard PlainLineScanner.equal(name, member.name) else { return nil }
            self = member
        }

        var name: StaticString {
            switch self {
            case .type: "type"
            case .schoolURN: "school_urn"
            case .upn: "upn"
            case .instrument: "instrument"
            case .subject: "subject"
            case .measure: "measure"
            case .value: "value"
            case .date: "date"
            }
        }
    }

    /// Where each member's value was found in the line (held inline: a list would be an
    /// allocation per line).
    private struct Found {
        var type, schoolURN, upn, instrument, subject, measure, value, date: Range<Int>?

        subscript(member: Member) -> Range<Int>? {
            get {
                switch member {
                case .type: type
                case .schoolURN: schoolURN
                case .upn: upn
                case .instrument: instrument
                case .subject: subject
                case .measure: measure
                case .value: value
                case .date: date
                }
            }
            set {
                switch member {
                case .type: type = newValue
                case .schoolURN: schoolURN = newValue
                case .upn: upn = newValue
                case .instrument: instrument = newValue
                case .subject: subject = newValue
                case .measure: measure = newValue
                case .value: value = newValue
                case .date: date = newValue
                }
            }
        }
    }

    /// One of ``Codes/measures`` (compared as bytes: hashing it to look it up in the set
    /// cost more).
    private static func measure(_ text: UnsafeBufferPointer<UInt8>) -> String? {
        measures.first { PlainLineScanner.equal(text, $0) }?.description
    }

    private static let measures: [StaticString] = ["age_months", "standardised", "scaled", "raw", "steps"]

    /// Whether a number's text is a whole number of up to fifteen digits, no sign: then it is
    /// also the text JSON writes for its value (``JSONValue/numberText(_:)``), since JSON
    /// allows no leading zero.
    private static func isWhole(_ text: UnsafeBufferPointer<UInt8>) -> Bool {
        text.count <= 15 && text.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
    }

    /// A JSON number's value as the parser reads it (``JSONParser``): a whole number of up
    /// to fifteen digits exactly, any other through `Double(_:)` as there.
    private static func number(_ text: UnsafeBufferPointer<UInt8>) -> Double? {
        if isWhole(text) {
            return Double(text.reduce(0) { $0 * 10 + Int($1 - 0x30) })
        }
        guard let value = Double(PlainLineScanner.string(text)), value.isFinite else { return nil }
        return value
    }

    /// Whether ``RecordRules`` takes `value` for `measure` with no rejection or warning.
    private static func takesWithoutWarning(_ value: Double, measure: String) -> Bool {
        switch measure {
        case "standardised": (40...160).contains(value)
        case "age_months": (18...300).contains(value)
        default: (-1000...100_000).contains(value)
        }
    }
}
