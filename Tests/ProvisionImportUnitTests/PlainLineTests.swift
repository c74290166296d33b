@testable import ProvisionImport
import ProvisionModel
import ProvisionTestSupport
import Testing

// Result and pupil lines read without a JSON tree (PlainResultLine, PlainPupilLine) must
// give exactly what the general parser and RecordRules give: the same records, the same
// rejections, the same protocol errors. Each line here goes through two validators, one
// reading plain lines and one parsing every line, and their answers are compared.

/// Both validators, fed the same lines; `today` makes results after 2025-12-01 future ones.
struct ReadingComparison {
    var plain = RecordStreamValidator(pluginName: "fixture", boundSchools: [ProtocolFixture.school], today: SchoolDate(iso: "2025-12-01"))
    var parsed = RecordStreamValidator(pluginName: "fixture", boundSchools: [ProtocolFixture.school], today: SchoolDate(iso: "2025-12-01"))
    /// Lines the first validator read without parsing.
    var readPlain = 0

    /// Feeds `line` to both and records a test issue where their answers differ.
    mutating func compare(_ line: String, number: Int, sourceLocation: SourceLocation = #_sourceLocation) {
        let bytes = Array(line.utf8)
        let prepared = RecordStreamValidator.prepare(bytes)
        if prepared.readPlain { readPlain += 1 }
        let fast = Self.answer { () throws(ProtocolViolation) in try plain.consume(prepared, number: number) }
        let slow = Self.answer { () throws(ProtocolViolation) in
            try parsed.consume(RecordStreamValidator.prepare(bytes, plainLines: false), number: number)
        }
        #expect(fast.text == slow.text, "line \(number): \(line)", sourceLocation: sourceLocation)
        #expect(fast.record?.fields == slow.record?.fields, "line \(number): \(line)", sourceLocation: sourceLocation)
        #expect(fast.record?.result == slow.record?.result, "line \(number): \(line)", sourceLocation: sourceLocation)
        #expect(fast.record?.pupil == slow.record?.pupil, "line \(number): \(line)", sourceLocation: sourceLocation)
    }

    /// A line's answer in comparable form.
    static func answer(_ consume: () throws(ProtocolViolation) -> LineResult) -> (text: String, record: ValidRecord?) {
        do {
            switch try consume() {
            case .accepted(let record):
                return ("accepted \(record.type) \(record.schoolURN) \(record.document) \(record.warning ?? "-")", record)
            case .rejected(let rejection): return ("rejected \(rejection)", nil)
            case .header: return ("header", nil)
            case .end: return ("end", nil)
            case .ignored: return ("ignored", nil)
            }
        } catch {
            return ("violation \(error)", nil)
        }
    }
}

@Suite("plain result lines read as the validator reads them (no database)")
struct PlainResultLineTests {
    static let plain =
        #"{"type":"assessment","school_urn":"139001","upn":"\#(ProtocolFixture.upn(1))","instrument":"Salford","subject":"reading","measure":"age_months","value":92,"date":"2025-09-15"}"#

    /// The plain line with `text` in place of `original`.
    func plain(_ original: String, _ text: String) -> String {
        Self.plain.replacingOccurrences(of: original, with: text)
    }

    @Test func linesOfEveryShapeGetTheSameAnswers() {
        var pair = ReadingComparison()
        let upn = ProtocolFixture.upn(1)
        let plainLines: [String] = [
            Self.plain,
            // Members in another order, white space between tokens, a carriage return.
            #" { "value" : 92 , "date":"2025-09-15","upn":"\#(upn)","type":"assessment","measure":"age_months","subject":"reading","instrument":"Salford","school_urn":"139001" }"# + "\r",
            plain("92", "92.5"),
            plain("92", "9.2e1"),
            plain(#""age_months","value":92"#, #""raw","value":-3"#),
            plain(#""age_months","value":92"#, #""raw","value":-0"#),
            plain(#""age_months","value":92"#, #""standardised","value":160"#),
            // A check letter that does not match: kept, and results carry no warning for it.
            plain(upn, (upn.first == "A" ? "B" : "A") + upn.dropFirst()),
            // Ahead of `today` by no more than the day allowed.
            plain("2025-09-15", "2025-12-02"),
            plain("Salford", String(repeating: "S", count: 60)),
            plain("139001", "139002"),  // not bound: rejected after reading
            plain("2025-09-15", "2026-01-15"),  // in the future: rejected likewise
        ]
        let parsedLines: [String] = [
            plain(upn, upn.lowercased()),
            plain(#""Salford""#, #"" Salford""#),
            plain(#""Salford""#, #""Salf\u006frd""#),
            plain(#""Salford""#, #""Salförd""#),
            plain("Salford", String(repeating: "S", count: 61)),
            plain(#""reading""#, #""""#),
            plain(#","date":"2025-09-15""#, #","date":"2025-09-15","date":"2025-09-16""#),
            plain(#""date""#, #""ref":"row 3","date""#),
            plain(#""date""#, #""note":"x","date""#),
            plain(#""value":92"#, #""value":"92""#),
            plain(#""value":92"#, #""value":null"#),
            plain(#""value":92"#, #""value":092"#),
            plain(#""value":92"#, #""value":1e400"#),
            plain(#""value":92"#, #""value":12"#),  // months under 18: a warning
            plain(#""value":92"#, #""value":301"#),
            plain(#""age_months","value":92"#, #""standardised","value":39"#),
            plain(#""age_months""#, #""age""#),
            plain("2025-09-15", "2025-02-29"),
            plain("2025-09-15", "15/09/2025"),
            plain(upn, "A1234"),
            plain("139001", "13900"),
            plain(#""assessment""#, #""Assessment""#),
            plain(#","date":"2025-09-15""#, ""),
            Self.plain + " x",
            plain("}", ",}"),
            "[" + Self.plain + "]",
        ]
        pair.compare(Self.plain, number: 1)  // before the header: a protocol error from both
        pair.compare(ProtocolFixture.header(), number: 2)
        for (index, line) in (plainLines + parsedLines).enumerated() { pair.compare(line, number: index + 3) }
        #expect(pair.readPlain == plainLines.count + 1)
        pair.compare(#"{"type":"end","counts":{}}"#, number: 100)
        pair.compare(Self.plain, number: 101)  // after the end: a protocol error from both
    }

    /// Thousands of lines made by changing a plain line a byte or a few at a time: wherever
    /// the plain reader takes one, it must take it as the parser and the rules do.
    @Test func changedLinesGetTheSameAnswers() {
        var pair = ReadingComparison()
        pair.compare(ProtocolFixture.header(), number: 1)
        let changedPlain = Changes.compare(Self.plain, times: 20_000, seed: 20_261_203, in: &pair)
        // Changes the plain reader must still take (a digit of the value, a letter of the
        // instrument) and many it must not: both kinds were made.
        #expect(changedPlain >= 500)
        #expect(pair.readPlain <= 19_000)
    }
}

/// Lines made from one by changing a byte or a few at a time.
enum Changes {
    /// Compares `times` changed copies of `line` in `pair`; returns how many that differ
    /// from `line` were read plain.
    static func compare(_ line: String, times: Int, seed: UInt64, in pair: inout ReadingComparison) -> Int {
        var generator = SplitMix(seed: seed)
        let alphabet = Array(#" "\:,{}[]-.+eE0123456789aAzZ_\#t"#.utf8) + [0x0D, 0x7F, 0xC3, 0xA9, 0x00]
        let base = Array(line.utf8)
        var plainBefore = pair.readPlain
        var changedPlain = 0
        for number in 2..<(times + 2) {
            var line = base
            for _ in 0..<(1 + generator.next() % 3) {
                let at = Int(generator.next() % UInt64(line.count))
                switch generator.next() % 3 {
                case 0: line[at] = alphabet[Int(generator.next() % UInt64(alphabet.count))]
                case 1: line.insert(alphabet[Int(generator.next() % UInt64(alphabet.count))], at: at)
                default: line.remove(at: at)
                }
            }
            pair.compare(String(decoding: line, as: UTF8.self), number: number)
            if pair.readPlain > plainBefore, line != base { changedPlain += 1 }
            plainBefore = pair.readPlain
        }
        return changedPlain
    }
}

/// A small seeded generator, so a failing line can be made again.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("plain pupil lines read as the validator reads them (no database)")
struct PlainPupilLineTests {
    static let upn = ProtocolFixture.upn(2)
    static let plain =
        #"{"type":"pupil","school_urn":"139001","upn":"\#(upn)","surname":"O'Neill-Smith","forename":"Jo Ann","dob":"2016-02-29","#
        + #""gender":"F","year_group":"4","admission_date":"2020-09-01","sen_provision":"K","sen_start_date":"2021-01-04","#
        + #""fsm":true,"pupil_premium":false,"eal":false,"looked_after":false,"needs":[{"code":"SLCN","rank":1},{"code":"ASD","rank":2}]}"#

    /// The plain line with `text` in place of `original`.
    func plain(_ original: String, _ text: String) -> String {
        Self.plain.replacingOccurrences(of: original, with: text)
    }

    @Test func linesOfEveryShapeGetTheSameAnswers() {
        var pair = ReadingComparison()
        let minimal = #"{"type":"pupil","school_urn":"139001","upn":"\#(Self.upn)","surname":"Smith","forename":"Jo","dob":"2016-02-29"}"#
        let plainLines: [String] = [
            Self.plain,
            minimal,
            // Members in another order, white space between tokens.
            #" { "dob" : "2016-02-29" , "forename":"Jo","surname":"Smith","upn":"\#(Self.upn)","school_urn":"139001","type":"pupil" } "#,
            plain(#","needs":[{"code":"SLCN","rank":1},{"code":"ASD","rank":2}]"#, #","needs":[]"#),
            plain(#"{"code":"SLCN","rank":1},{"code":"ASD","rank":2}"#, #"{"code":"SLCN"},{ "rank" : 7 , "code":"ASD" }"#),
            plain(#","admission_date":"2020-09-01""#, #","admission_date":"2020-09-01","leaving_date":"2030-07-20""#),
            minimal.replacingOccurrences(of: "2016-02-29", with: "2025-12-02"),  // born a day ahead of `today`: allowed for clocks
            plain("2016-02-29", "2026-01-01").replacingOccurrences(of: "2020-09-01", with: "2026-01-02"),  // in the future: rejected
            plain("139001", "139002"),  // not bound: rejected after reading
            plain("O'Neill-Smith", String(repeating: "x", count: 100)),
        ]
        let parsedLines: [String] = [
            plain(Self.upn, (Self.upn.first == "A" ? "B" : "A") + Self.upn.dropFirst()),  // check letter: a warning
            plain(Self.upn, Self.upn.lowercased()),
            plain(#""Jo Ann""#, #""Jo Ann ""#),
            plain(#""Jo Ann""#, #""Zoë""#),
            plain(#""Jo Ann""#, #""Jo\u0020Ann""#),
            plain("O'Neill-Smith", String(repeating: "x", count: 101)),
            plain(#""gender":"F""#, #""gender":"f""#),
            plain(#""gender":"F""#, #""gender":"""#),
            plain(#""gender":"F""#, #""gender":null"#),
            plain(#""year_group":"4""#, #""year_group":"15""#),
            plain(#""fsm":true"#, #""fsm":1"#),
            plain(#""fsm":true"#, #""fsm":"true""#),
            plain(#""sen_provision":"K""#, #""sen_provision":"S""#),
            plain("2021-01-04", "2021-02-30"),
            plain(#","admission_date":"2020-09-01""#, #","admission_date":"2020-09-01","leaving_date":"2020-07-20""#),
            plain("2020-09-01", "2015-09-01"),  // admitted before born
            plain(#"{"code":"ASD","rank":2}"#, #"{"code":"SLCN","rank":2}"#),
            plain(#"{"code":"ASD","rank":2}"#, #"{"code":"DYS","rank":2}"#),
            plain(#"{"code":"ASD","rank":2}"#, #"{"code":"ASD","rank":21}"#),
            plain(#"{"code":"ASD","rank":2}"#, #"{"code":"ASD","rank":2.0}"#),
            plain(#"{"code":"ASD","rank":2}"#, #"{"code":"ASD","rank":2,"note":"x"}"#),
            plain(#"{"code":"ASD","rank":2}"#, #"{"rank":2}"#),
            plain(#"{"code":"ASD","rank":2}"#, #""ASD""#),
            plain(#""needs":["#, #""needs":null,"x":["#),
            plain(#""eal":false"#, #""eal":false,"eal":true"#),
            plain(#""type":"pupil""#, #""type":"pupil","extra_field_from_the_future":1"#),
            minimal.replacingOccurrences(of: #","dob":"2016-02-29""#, with: ""),
            minimal.replacingOccurrences(of: #""surname":"Smith","#, with: ""),
            minimal.replacingOccurrences(of: #""type":"pupil""#, with: #""type":"staff""#),
        ]
        pair.compare(Self.plain, number: 1)  // before the header: a protocol error from both
        pair.compare(ProtocolFixture.header(), number: 2)
        for (index, line) in (plainLines + parsedLines).enumerated() { pair.compare(line, number: index + 3) }
        #expect(pair.readPlain == plainLines.count + 1)
    }

    /// As for results: thousands of changed lines, the same answers.
    @Test func changedLinesGetTheSameAnswers() {
        var pair = ReadingComparison()
        pair.compare(ProtocolFixture.header(), number: 1)
        let changedPlain = Changes.compare(Self.plain, times: 20_000, seed: 20_261_204, in: &pair)
        #expect(changedPlain >= 300)
        #expect(pair.readPlain <= 19_000)
    }
}
