@testable import ProvisionImport
import ProvisionModel
import ProvisionTestSupport
import Testing

/// Result lines read without a JSON tree (``PlainResultLine``) must give exactly what the
/// general parser and ``RecordRules`` give: the same records, the same rejections, the same
/// protocol errors. Each line here goes through two validators, one reading plain results and
/// one parsing every line, and their answers are compared.
@Suite("plain result lines read as the validator reads them (no database)")
struct PlainResultLineTests {
    static let plain =
        #"{"type":"assessment","school_urn":"139001","upn":"\#(ProtocolFixture.upn(1))","instrument":"Salford","subject":"reading","measure":"age_months","value":92,"date":"2025-09-15"}"#

    /// Both validators, fed the same lines; `today` makes results after 2025-12-01 future ones.
    struct Pair {
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
                try parsed.consume(RecordStreamValidator.prepare(bytes, plainResults: false), number: number)
            }
            #expect(fast == slow, "line \(number): \(line)", sourceLocation: sourceLocation)
        }

        /// A line's answer in comparable form.
        static func answer(_ consume: () throws(ProtocolViolation) -> LineResult) -> String {
            do {
                switch try consume() {
                case .accepted(let record):
                    return "accepted \(record.type) \(record.schoolURN) \(record.fields.dictionary) \(record.document) "
                        + "\(record.warning ?? "-") \(String(describing: record.result))"
                case .rejected(let rejection): return "rejected \(rejection)"
                case .header: return "header"
                case .end: return "end"
                case .ignored: return "ignored"
                }
            } catch {
                return "violation \(error)"
            }
        }
    }

    /// The plain line with `text` in place of `original`.
    func plain(_ original: String, _ text: String) -> String {
        Self.plain.replacingOccurrences(of: original, with: text)
    }

    @Test func linesOfEveryShapeGetTheSameAnswers() {
        var pair = Pair()
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
        var pair = Pair()
        pair.compare(ProtocolFixture.header(), number: 1)
        var generator = SplitMix(seed: 20261203)
        let alphabet = Array(#" "\:,{}[]-.+eE0123456789aAzZ_\#t"#.utf8) + [0x0D, 0x7F, 0xC3, 0xA9, 0x00]
        let base = Array(Self.plain.utf8)
        var plainBefore = pair.readPlain
        var changedPlain = 0
        for number in 2..<20_002 {
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
        // Changes the plain reader must still take (a digit of the value, a letter of the
        // instrument) and many it must not: both kinds were made.
        #expect(changedPlain >= 500)
        #expect(pair.readPlain <= 19_000)
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
