import ProvisionModel

/// A valid pupil line of the plain shape read straight from its bytes, as
/// ``PlainResultLine`` reads a result's: nearly every other line of a large import.
///
/// The plain shape: one object of the members a pupil has, each at most once; strings of
/// printable ASCII with no escape and no space to trim (a name with an accent takes the general
/// path); flags `true` or `false`; needs a list of `{code, rank}` objects with whole ranks;
/// no `null`; and nothing the validator would reject or warn about (a UPN whose check letter
/// does not match is warned about). Any other line is answered nil and parsed as usual. The
/// test `PlainPupilLineTests` holds the two paths to the same records.
enum PlainPupilLine {
    /// The record `line` holds when it is a valid pupil of the plain shape, else nil.
    static func read(_ line: UnsafeBufferPointer<UInt8>) -> ValidRecord? {
        var scanner = PlainLineScanner(bytes: line)
        var values = [String?](repeating: nil, count: PupilFields.columns.count)
        var (isPupil, urn, upn, needs): (Bool, String?, String?, [PupilFields.Need]?) = (false, nil, nil, nil)
        var seen: UInt32 = 0
        scanner.skipWhitespace()
        guard scanner.take(UInt8(ascii: "{")) else { return nil }
        repeat {
            scanner.skipWhitespace()
            guard let key = scanner.plainString(), let member = Member(key, in: scanner), seen & member.bit == 0 else { return nil }
            seen |= member.bit
            scanner.skipWhitespace()
            guard scanner.take(UInt8(ascii: ":")) else { return nil }
            scanner.skipWhitespace()
            switch member.kind {
            case .flag:
                guard let flag = scanner.bool() else { return nil }
                values[member.column] = flag ? "t" : "f"
            case .needs:
                guard let listed = Self.needs(&scanner) else { return nil }
                needs = listed
            default:
                guard let range = scanner.plainString() else { return nil }
                let value = UnsafeBufferPointer(rebasing: line[range])
                guard let text = Self.check(value, as: member.kind) else { return nil }
                switch member.kind {
                case .type: isPupil = text == "pupil"
                case .urn: urn = text
                case .upn: upn = text
                default: values[member.column] = text
                }
            }
            scanner.skipWhitespace()
        } while scanner.take(UInt8(ascii: ","))
        guard scanner.take(UInt8(ascii: "}")) else { return nil }
        scanner.skipWhitespace()
        guard scanner.atEnd, isPupil, let urn, let upn,
              case .wellFormed(_, matches: true) = UPN.read(upn),
              values[0] != nil, values[1] != nil, let dob = values[PupilFields.dob]
        else { return nil }
        // As the rules order them: left before admitted, admitted before born.
        let admitted = values[5]
        if let admitted, let left = values[PupilFields.leavingDate], left < admitted { return nil }
        if let admitted, admitted < dob { return nil }
        return ValidRecord(schoolURN: urn, pupil: PupilFields(upn: upn, values: values, needs: needs))
    }

    /// How a member's value is read and checked.
    private enum Kind {
        case type, urn, upn
        /// Required free text of up to 100 characters (the names).
        case name
        case date
        case code(Set<String>)
        case flag
        case needs
    }

    /// The members a pupil has, with where each goes among ``PupilFields/values``.
    private struct Member {
        let kind: Kind
        let column: Int
        let bit: UInt32

        private static let all: [(name: StaticString, kind: Kind, column: Int)] = [
            ("type", .type, -1), ("school_urn", .urn, -1), ("upn", .upn, -1), ("surname", .name, 0), ("forename", .name, 1),
            ("dob", .date, 2), ("gender", .code(Codes.genders), 3), ("year_group", .code(Codes.yearGroups), 4),
            ("admission_date", .date, 5), ("leaving_date", .date, 6), ("sen_provision", .code(Codes.senProvision), 7),
            ("sen_start_date", .date, 8), ("fsm", .flag, 9), ("pupil_premium", .flag, 10), ("eal", .flag, 11),
            ("looked_after", .flag, 12), ("needs", .needs, -1),
        ]

        /// The member `key` (a range of the scanner's line) names; nil for any other key.
        init?(_ key: Range<Int>, in scanner: PlainLineScanner) {
            guard let index = Self.all.firstIndex(where: { $0.name.utf8CodeUnitCount == key.count && scanner.text(key, is: $0.name) })
            else { return nil }
            (kind, column, bit) = (Self.all[index].kind, Self.all[index].column, 1 << UInt32(index))
        }
    }

    /// A string member's text when the validator takes it as it is, else nil.
    private static func check(_ value: UnsafeBufferPointer<UInt8>, as kind: Kind) -> String? {
        switch kind {
        case .urn: PlainLineScanner.urn(value)
        case .upn: PlainLineScanner.upn(value)
        case .name: PlainLineScanner.asIs(value, maxLength: 100)
        case .date: PlainLineScanner.date(value)
        case .code(let allowed): PlainLineScanner.asIs(value, maxLength: 40).flatMap { allowed.contains($0) ? $0 : nil }
        case .type, .flag, .needs: PlainLineScanner.asIs(value, maxLength: 40)
        }
    }

    /// A list of needs, each `{"code": …, "rank": …}` with a known code, a whole rank from
    /// 1 to 20 (or none: its place in the list), and no code twice.
    private static func needs(_ scanner: inout PlainLineScanner) -> [PupilFields.Need]? {
        guard scanner.take(UInt8(ascii: "[")) else { return nil }
        var needs: [PupilFields.Need] = []
        scanner.skipWhitespace()
        if scanner.take(UInt8(ascii: "]")) { return needs }
        repeat {
            scanner.skipWhitespace()
            guard scanner.take(UInt8(ascii: "{")) else { return nil }
            var (code, rank): (String?, Int?) = (nil, nil)
            repeat {
                scanner.skipWhitespace()
                guard let key = scanner.plainString() else { return nil }
                scanner.skipWhitespace()
                guard scanner.take(UInt8(ascii: ":")) else { return nil }
                scanner.skipWhitespace()
                if code == nil, scanner.text(key, is: "code") {
                    guard let range = scanner.plainString() else { return nil }
                    let text = PlainLineScanner.string(UnsafeBufferPointer(rebasing: scanner.bytes[range]))
                    guard Codes.needTypes.contains(text), !needs.contains(where: { $0.code == text }) else { return nil }
                    code = text
                } else if rank == nil, scanner.text(key, is: "rank") {
                    guard let range = scanner.number(), range.count <= 2,
                          scanner.bytes[range].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 })
                    else { return nil }
                    let value = scanner.bytes[range].reduce(0) { $0 * 10 + Int($1 - 0x30) }
                    guard (1...20).contains(value) else { return nil }
                    rank = value
                } else {
                    return nil
                }
                scanner.skipWhitespace()
            } while scanner.take(UInt8(ascii: ","))
            guard scanner.take(UInt8(ascii: "}")), let code else { return nil }
            needs.append(PupilFields.Need(code: code, rank: rank ?? needs.count + 1))
            scanner.skipWhitespace()
        } while scanner.take(UInt8(ascii: ","))
        guard scanner.take(UInt8(ascii: "]")) else { return nil }
        return needs
    }
}
