import Foundation
import ProvisionModel
import Testing

/// The model's small pieces that everything else trusts: UPNs, escaping, JSON, backoff.
@Suite("model: UPNs, escaping, JSON, backoff")
struct ModelTests {
    @Test func upnCheckLettersFollowTheDfEAlgorithm() throws {
        let upn = try #require(UPN.withCheckLetter("801200025001"))
        #expect(upn.count == 13 && UPN.isValid(upn))
        // Any other first letter is refused, and so is a changed digit.
        let wrongLetter = (upn.first == "A" ? "B" : "A") + upn.dropFirst()
        #expect(!UPN.isValid(wrongLetter))
        #expect(!UPN.isValid(String(upn.prefix(12)) + (upn.last == "1" ? "2" : "1")))
        #expect(UPN.shapeProblem("12345") != nil)
    }

    @Test func controlCharactersAreEscapedAndTextIsOtherwiseKept() {
        #expect(EscapedText.escaped("Zoë\u{1B}[2J\u{0}x") == "Zoë\\u{1b}[2J\\u{0}x")
        #expect(EscapedText.escaped("two\nlines") == "two\\u{a}lines")
        // A right-to-left override would show the rest of a terminal's line reversed.
        #expect(EscapedText.escaped("file \u{202E}txt.exe\u{2066}") == "file \\u{202e}txt.exe\\u{2066}")
        #expect(EscapedText.escaped("two\nlines", keepingLineBreaks: true) == "two\nlines")
        #expect(EscapedText.escaped(bytes: [0x41, 0xFF, 0x9B]) == "A\u{FFFD}\u{FFFD}")
    }

    @Test func stringsAreWrittenAndReadExactlyWithOrWithoutEscapes() throws {
        #expect(JSONValue.string("plain ASCII").serialized == #""plain ASCII""#)
        #expect(JSONValue.string("Siân Zoë").serialized == "\"Siân Zoë\"")
        #expect(JSONValue.string("a\"b\\c\nd\u{1}").serialized == #""a\"b\\c\nd\u0001""#)
        #expect(try JSONValue.parse(Array("\"Łukasz\"".utf8)) == .string("Łukasz"))
        #expect(throws: JSONValue.InvalidJSON.self, "invalid UTF-8 in a string without escapes") {
            try JSONValue.parse([0x22, 0x41, 0xFF, 0x22])
        }
    }

    @Test func jsonRoundTripsAndRefusesWhatIsNotJSON() throws {
        let value = try JSONValue.parse(Array(#"{"a":[1,"x\n\u00e9",null,true],"b":{}}"#.utf8))
        #expect(try JSONValue.parse(Array(value.serialized.utf8)) == value)
        #expect(value.objectValue?["a"]?.arrayValue?[1].stringValue == "x\né")
        for bad in ["", "{", #"{"a":}"#, "[1,]", "nul", #""\u12""#] {
            #expect(throws: JSONValue.InvalidJSON.self, "\(bad)") { try JSONValue.parse(Array(bad.utf8)) }
        }
    }

    /// A plugin's author is told what is wrong and at which byte, never the text (a line may
    /// be a pupil's record).
    @Test func invalidJSONSaysWhatAndWhereWithoutTheText() {
        let cases: [(String, String)] = [
            (#"{"type": "pupil", "upn": "#, "ends where a value was expected (at the end)"),
            (#"{"value": 1e999}"#, "a number is too large (at byte 11)"),
            (#"{"surname": "S\ud800"}"#, "a string has an unpaired surrogate (\\uD800–\\uDFFF) (at byte 21)"),
            ("{\"surname\": \"Tab\there\"}", "a string holds a control character (a raw tab or line break?): escape it (at byte 17)"),
            (#"{"a": 1} {"b": 2}"#, "text follows the JSON value (at byte 10)"),
            (#"{"a": True}"#, "not a JSON value (true, false and null are lower case; strings need double quotes) (at byte 7)"),
            (#"{'a': 1}"#, "an object's key must be a string in double quotes (at byte 2)"),
            (#"{"a" 1}"#, "expected ':' after an object's key (at byte 6)"),
            (#"{"a": 1 "b": 2}"#, "expected ',' or '}' after an object's member (at byte 9)"),
            (#"[1 2]"#, "expected ',' or ']' after an array's element (at byte 4)"),
            (#"{"a": "open"#, "a string is not closed (at byte 7)"),
            (#"{"a": "\q"}"#, "a string has an unknown escape after a backslash (at byte 8)"),
            (#"{"a": 1.}"#, "a number needs digits after its decimal point (at byte 9)"),
            (String(repeating: "[", count: 65) + String(repeating: "]", count: 65), "nested more than 64 levels deep (at byte 65)"),
            (#"{"upn": "A1", "type": "pupil", "upn": "B2"}"#, "an object has the same key twice (which value is meant?) (at byte 32)"),
            (#"{"needs": [{"code": "SPLD", "code": "MLD"}]}"#, "an object has the same key twice (which value is meant?) (at byte 29)"),
        ]
        for (text, expected) in cases {
            do {
                _ = try JSONValue.parseTopLevel(Array(text.utf8))
                Issue.record("\(text) was read")
            } catch {
                #expect(error.description == expected, "\(text)")
            }
        }
        let invalidUTF8: [UInt8] = Array(#"{"a": "S"#.utf8) + [0xFF, 0x22, 0x7D]
        #expect(throws: JSONValue.InvalidJSON.self) { try JSONValue.parseTopLevel(invalidUTF8) }
        do { _ = try JSONValue.parseTopLevel(invalidUTF8) } catch {
            #expect(error.description == "a string is not valid UTF-8 (at byte 8)")
        }
    }

    /// A record's top level keeps its members in order; they answer as a dictionary built
    /// from the same text would, and anything else is refused or returned as the value it is.
    /// A key may be written again in another object, never twice in one.
    @Test func topLevelMembersAnswerAsTheDictionaryWould() throws {
        let text = #"{"type":"pupil","upn":"B2","nested":{"k":1,"upn":"A1"},"n":null,"list":[{"k":1},{"k":2}]}"#
        guard case .members(let members) = try JSONValue.parseTopLevel(Array(text.utf8)) else {
            Issue.record("an object was not read as members")
            return
        }
        let dictionary = try #require(try JSONValue.parse(Array(text.utf8)).objectValue)
        #expect(members.dictionary == dictionary)
        for key in ["type", "upn", "nested", "n", "list", "absent"] { #expect(members[key] == dictionary[key], "\(key)") }
        #expect(members["upn"] == .string("B2"))
        #expect(members.count == 5)
        for twice in [#"{"upn":"A1","upn":"B2"}"#, #"{"a":{"k":1,"k":1}}"#, #"[{"k":1,"k":2}]"#] {
            #expect(throws: JSONValue.InvalidJSON.self, "\(twice)") { try JSONValue.parseTopLevel(Array(twice.utf8)) }
            #expect(throws: JSONValue.InvalidJSON.self, "\(twice)") { try JSONValue.parse(Array(twice.utf8)) }
        }
        guard case .other(let value) = try JSONValue.parseTopLevel(Array(" [1, 2] ".utf8)) else {
            Issue.record("an array was read as members")
            return
        }
        #expect(value == .array([.number(1), .number(2)]))
        for bad in ["", "{", #"{"a":1,}"#, #"{"a":1} x"#, #"{"a" 1}"#] {
            #expect(throws: JSONValue.InvalidJSON.self, "\(bad)") { try JSONValue.parseTopLevel(Array(bad.utf8)) }
        }
    }

    @Test func countsAreGroupedInThousands() {
        #expect(0.groupedDigits == "0")
        #expect(999.groupedDigits == "999")
        #expect(1000.groupedDigits == "1,000")
        #expect(1_234_567.groupedDigits == "1,234,567")
        #expect((-4000).groupedDigits == "-4,000")
        #expect(UInt64(10_000_000_000).groupedDigits == "10,000,000,000")
    }

    @Test func backoffJitterStaysWithinTheLastFifth() {
        var generator = SystemRandomNumberGenerator()
        let waits = (0..<200).map { _ in Backoff.jittered(100, using: &generator) }
        #expect(waits.allSatisfy { (80...100).contains($0) }, "\(waits.min()!)…\(waits.max()!)")
        #expect(Set(waits).count > 100, "spread, not one value")
    }
}

@Suite("trimming white space")
struct TrimmingTests {
    @Test func trimsUnicodeWhiteSpaceAtBothEndsOnly() {
        #expect(" \tSmith\r\n".trimmedWhitespace == "Smith")
        #expect("\u{00A0}Nora\u{2003}".trimmedWhitespace == "Nora", "no-break and em spaces are white space")
        #expect("\u{0085}x\u{000B}".trimmedWhitespace == "x")
        #expect("Anne Marie".trimmedWhitespace == "Anne Marie", "inner spaces stay")
        #expect("Zoë".trimmedWhitespace == "Zoë")
        #expect("   ".trimmedWhitespace == "")
        #expect("".trimmedWhitespace == "")
        #expect("\u{200B}x".trimmedWhitespace == "\u{200B}x", "a zero-width space is not White_Space")
        // White space at one end only, the other end a visible ASCII character.
        #expect("\u{3000}Kai".trimmedWhitespace == "Kai")
        #expect("Kai\u{00A0}".trimmedWhitespace == "Kai")
        #expect("Kai\n".trimmedWhitespace == "Kai")
        #expect("\u{1F}Kai~".trimmedWhitespace == "\u{1F}Kai~", "a unit separator is not White_Space")
        #expect("x".trimmedWhitespace == "x")
    }

    @Test func asciiAnswersMatchTheUnicodeProperty() {
        for value in UInt32(0)..<0x80 {
            let scalar = Unicode.Scalar(value)!
            #expect(scalar.isWhitespace == scalar.properties.isWhitespace, "U+\(String(value, radix: 16))")
        }
    }
}
