import Foundation
import ProvisionImport
import ProvisionTestSupport
import ProvisionModel
import Testing

@Suite("protocol v1 record validation (no database)")
struct RecordValidationTests {
    /// Runs lines through a validator bound to 139001 and returns each line's result.
    func results(_ records: [String]) throws -> [LineResult] {
        var validator = RecordStreamValidator(pluginName: "fixture", boundSchools: [ProtocolFixture.school], today: nil)
        var out: [LineResult] = []
        for (index, line) in ([ProtocolFixture.header()] + records).enumerated() {
            out.append(try validator.consume(Array(line.utf8), number: index + 1))
        }
        return Array(out.dropFirst())
    }

    func reason(_ record: [String: Any]) throws -> String? {
        guard case .rejected(let rejection) = try results([ProtocolFixture.line(record)])[0] else { return nil }
        return rejection.reason
    }

    nonisolated(unsafe) static let pupil: [String: Any] = [
        "type": "pupil", "school_urn": "139001", "upn": ProtocolFixture.upn(1), "surname": "Smith", "forename": "Jo",
        "dob": "2016-02-29", "year_group": "4",
    ]

    func with(_ base: [String: Any], _ changes: [String: Any?]) -> [String: Any] {
        var record = base
        for (key, value) in changes { record[key] = value }
        return record
    }

    @Test func aMinimalPupilIsAcceptedAndNormalised() throws {
        let record = with(Self.pupil, ["surname": "  Smith ", "extra_field_from_the_future": 1])
        guard case .accepted(let valid) = try results([ProtocolFixture.line(record)])[0] else {
            Issue.record("rejected")
            return
        }
        #expect(valid.document.contains(#""surname":"Smith""#))
        #expect(!valid.document.contains("extra_field"))
    }

    @Test func pupilFieldsAreChecked() throws {
        #expect(try reason(with(Self.pupil, ["surname": nil])) == "pupil.surname is required")
        #expect(try reason(with(Self.pupil, ["dob": "2017-02-29"])) == "pupil.dob is not a real date in the form YYYY-MM-DD")
        #expect(try reason(with(Self.pupil, ["dob": "29/02/2016"])) == "pupil.dob is not a real date in the form YYYY-MM-DD")
        #expect(try reason(with(Self.pupil, ["year_group": "15"]))?.hasPrefix("pupil.year_group '15' is not one of") == true)
        #expect(try reason(with(Self.pupil, ["sen_provision": "S"]))?.hasPrefix("pupil.sen_provision 'S' is not one of") == true)
        #expect(try reason(with(Self.pupil, ["fsm": 1])) == "pupil.fsm must be true or false, got a number")
        #expect(try reason(with(Self.pupil, ["needs": [["code": "DYS", "rank": 1]]]))?.hasPrefix("pupil.needs[1].code 'DYS' is not one of") == true)
        #expect(try reason(with(Self.pupil, ["needs": [["code": "ASD"], ["code": "ASD"]]])) == "pupil.needs lists ASD twice")
        #expect(try reason(with(Self.pupil, ["admission_date": "2024-09-01", "leaving_date": "2024-07-01"])) == "pupil.leaving_date is before admission_date")
        #expect(try reason(with(Self.pupil, ["school_urn": "XXXXXX"])) == "pupil.school_urn must be a six-digit URN, got 'XXXXXX'")
        #expect(try reason(with(Self.pupil, ["surname": "Line\nbreak"])) == "pupil.surname contains control characters")
    }

    /// Characters that are never part of a name: C1 controls (U+009B is a terminal's escape
    /// sequence), DEL, line separators, and the bidirectional controls that make text display
    /// in another order than it is stored. Names in any script, with direction marks and
    /// joiners, are kept.
    @Test func controlAndReorderingCharactersAreRefusedAndNamesInAnyScriptKept() throws {
        for hostile in ["Smith\u{9B}31m", "Smith\u{7F}", "Smi\u{85}th", "Smith\u{2028}Jones"] {
            #expect(try reason(with(Self.pupil, ["surname": hostile])) == "pupil.surname contains control characters", "\(hostile.unicodeScalars.map(\.value))")
        }
        for hostile in ["\u{202E}htimS", "Smith\u{2066}", "Smi\u{202A}th\u{202C}"] {
            #expect(
                try reason(with(Self.pupil, ["forename": hostile]))
                    == "pupil.forename contains bidirectional control characters, which can make text display in a misleading order")
        }
        // Free text a person writes over several lines keeps its line breaks (as \n); names do not.
        let plan: [String: Any] = [
            "type": "plan", "school_urn": "139001", "plan_ref": "FP-1", "kind": "sen_support", "upn": ProtocolFixture.upn(1),
            "next_review": "2026-01-15", "strategies": "Pre-teach words\r\nChunk texts\rCheck often",
            "targets": [["description": "Read aloud\nfor ten minutes", "by": "2026-01-12"]],
        ]
        guard case .accepted(let valid) = try results([ProtocolFixture.line(plan)])[0] else {
            Issue.record("a plan with line breaks was rejected: \(try reason(plan) ?? "")")
            return
        }
        #expect(valid.fields["strategies"] == .string("Pre-teach words\nChunk texts\nCheck often"))
        #expect(try reason(with(plan, ["plan_ref": "FP\n1"])) == "plan.plan_ref contains control characters")
        #expect(try reason(with(plan, ["strategies": "Pre-teach\u{202E}words"]))?.hasPrefix("plan.strategies contains bidirectional") == true)
        let provision: [String: Any] = ["type": "provision", "school_urn": "139001", "provision_id": "P1", "name": "Lexia"]
        #expect(try reason(with(provision, ["staff_ids": ["T1", "T\u{9B}2"]])) == "provision.staff_ids has an element that contains control characters")
        #expect(try reason(with(provision, ["staff_ids": [String(repeating: "x", count: 81)]])) == "provision.staff_ids has an element longer than 80 characters")
        #expect(try reason(with(provision, ["staff_ids": ["T1", String(repeating: "x", count: 80)]])) == nil)
        for name in ["Zoë", "محمد", "יוסף\u{200F}", "Nguyễn", "O'Brien-Smith", "Sh\u{200D}ri", "Tab\tbetween"] {
            #expect(try reason(with(Self.pupil, ["surname": name])) == nil, "\(name)")
        }
    }

    /// A birth, a result or a score dated after tomorrow is a mistyped year (2061 for 2016),
    /// refused with the line; plans, provisions, enrolments and admissions may lie ahead.
    @Test func birthsAndResultsCannotBeInTheFuture() throws {
        var validator = RecordStreamValidator(
            pluginName: "fixture", boundSchools: [ProtocolFixture.school], today: SchoolDate(iso: "2026-12-01"))
        let records: [[String: Any]] = [
            with(Self.pupil, ["dob": "2061-02-28"]),
            with(Self.pupil, ["upn": ProtocolFixture.upn(2), "admission_date": "2027-01-04"]),
            ["type": "assessment", "school_urn": "139001", "upn": ProtocolFixture.upn(1), "instrument": "NGRT",
             "subject": "reading", "measure": "standardised", "value": 96, "date": "2062-03-01"],
            // Tomorrow reads: a clock an hour ahead of the server's dates its export so.
            ["type": "assessment", "school_urn": "139001", "upn": ProtocolFixture.upn(1), "instrument": "NGRT",
             "subject": "reading", "measure": "standardised", "value": 96, "date": "2026-12-02"],
            ["type": "enrolment", "school_urn": "139001", "provision_id": "P1", "upn": ProtocolFixture.upn(1),
             "start_date": "2026-11-02", "exit": ["value": 100, "date": "2026-12-03"]],
            ["type": "enrolment", "school_urn": "139001", "provision_id": "P1", "upn": ProtocolFixture.upn(2),
             "start_date": "2027-01-04", "end_date": "2027-03-26"],
        ]
        var outcomes: [String] = []
        for (index, line) in ([ProtocolFixture.header()] + records.map(ProtocolFixture.line)).enumerated() {
            switch try validator.consume(Array(line.utf8), number: index + 1) {
            case .accepted: outcomes.append("accepted")
            case .rejected(let rejection): outcomes.append("line \(rejection.line): \(rejection.reason)")
            default: break
            }
        }
        #expect(outcomes == [
            "line 2: pupil.dob is in the future",
            "accepted",
            "line 4: assessment.date 2062-03-01 is in the future: a result is dated on the day it was taken",
            "accepted",
            "line 6: enrolment.exit.date 2026-12-03 is in the future: a score is dated on the day it was measured",
            "accepted",
        ])
        // The rejected pupil is identified, so a snapshot does not mark them as left.
        #expect(validator.rejectedByType == ["pupil": 1, "assessment": 1, "enrolment": 1])
    }

    @Test func reasonsNeverRepeatPersonalValues() throws {
        let secretName = "Zebedee-Unique"
        let record = with(Self.pupil, ["forename": secretName, "upn": "Z12345678901", "dob": "2016-13-40"])
        let text = try reason(record) ?? ""
        #expect(!text.contains(secretName))
        #expect(!text.contains("Z12345678901"))
        #expect(!text.contains("2016-13-40"))
    }

    @Test func upnShapesAndCheckLetters() throws {
        #expect(UPN.isValid("B801200005001"))
        #expect(!UPN.isValid("A801200005001"))
        #expect(UPN.isValid("P207000016049"))
        #expect(UPN.withCheckLetter("80120000500A").map(UPN.isValid) == true)
        #expect(UPN.shapeProblem("B80120000500I") != nil)
        #expect(UPN.shapeProblem("I801200005001") != nil)
        #expect(UPN.shapeProblem("B8012000050") == "UPN must be 13 characters, got 11")
        // Thirteen characters, one of them not ASCII (fourteen bytes).
        #expect(UPN.shapeProblem("A80120010000\u{E9}") == "UPN must be 13 letters and digits; it has a character outside A–Z and 0–9")
        #expect(UPN.shapeProblem("B8012X0005001") == "UPN characters 2–12 must be digits")
        // Lower case is accepted and stored upper case.
        guard case .accepted(let valid) = try results([ProtocolFixture.line(with(Self.pupil, ["upn": ProtocolFixture.upn(1).lowercased()]))])[0] else {
            Issue.record("rejected")
            return
        }
        #expect(valid.document.contains(ProtocolFixture.upn(1)))
        #expect(valid.warning == nil)
        // A wrong check letter is a warning naming the right one, not a rejection.
        let right = ProtocolFixture.upn(1)
        let wrong = (right.hasPrefix("A") ? "B" : "A") + right.dropFirst()
        guard case .accepted(let warned) = try results([ProtocolFixture.line(with(Self.pupil, ["upn": wrong]))])[0] else {
            Issue.record("a wrong check letter was rejected")
            return
        }
        #expect(warned.warning == "UPN check letter does not match the DfE algorithm (expected \(right.prefix(1))); correct it in the MIS")
    }

    @Test func assessmentsRefuseImpossibleValues() throws {
        let base: [String: Any] = [
            "type": "assessment", "school_urn": "139001", "upn": ProtocolFixture.upn(1), "instrument": "NGRT",
            "subject": "reading", "measure": "standardised", "value": 92, "date": "2025-09-15",
        ]
        #expect(try reason(base) == nil)
        #expect(try reason(with(base, ["value": 250]))?.contains("impossible for a standardised score") == true)
        #expect(try reason(with(base, ["value": "92"])) == "assessment.value must be a number, got a string")
        #expect(try reason(with(base, ["measure": "percent"]))?.hasPrefix("assessment.measure 'percent' is not one of") == true)
        #expect(try reason(with(base, ["measure": "age_months", "value": 400]))?.contains("impossible for an age-equivalent") == true)
        #expect(try reason(with(base, ["date": nil])) == "assessment.date is required")
        // An age in years sent as months is kept with a warning saying so.
        for (value, warned) in [(7.04, true), (17.9, true), (18.0, false), (88.0, false)] {
            guard case .accepted(let record) = try results([ProtocolFixture.line(with(base, ["measure": "age_months", "value": value]))])[0] else {
                Issue.record("\(value) was rejected")
                continue
            }
            #expect((record.warning?.contains("months is under 18 for an age-equivalent score") == true) == warned, "\(value)")
        }
    }

    @Test func provisionsAndEnrolmentsAreChecked() throws {
        let provision: [String: Any] = [
            "type": "provision", "school_urn": "139001", "provision_id": "P1", "name": "Talk Boost", "wave": 2,
        ]
        #expect(try reason(provision) == nil)
        #expect(try reason(with(provision, ["wave": 4])) == "provision.wave must be between 1 and 3, got 4")
        #expect(try reason(with(provision, ["wave": 2.5])) == "provision.wave must be a whole number, got 2.5")
        #expect(try reason(with(provision, ["start_date": "2025-09-08", "end_date": "2025-09-01"])) == "provision.end_date is before start_date")
        #expect(try reason(with(provision, ["outcome": ["instrument": "Salford", "subject": "reading"]])) == "provision.outcome.measure is required")
        let enrolment: [String: Any] = [
            "type": "enrolment", "school_urn": "139001", "provision_id": "P1", "upn": ProtocolFixture.upn(1), "start_date": "2025-09-08",
        ]
        #expect(try reason(enrolment) == nil)
        #expect(try reason(with(enrolment, ["exit": ["date": "2025-12-01"]])) == "enrolment.exit.value is required")
        #expect(try reason(with(enrolment, ["status": "paused"]))?.hasPrefix("enrolment.status 'paused' is not one of") == true)
        #expect(try reason(with(enrolment, ["entry": ["value": 80, "date": "2025-12-01"], "exit": ["value": 90, "date": "2025-09-01"]])) == "enrolment.exit.date is before entry.date")
    }

    @Test func unknownTypesAndPluginErrorsAreRejectedRecordsNotFailures() throws {
        let outcome = try results([
            ProtocolFixture.line(["type": "timetable", "school_urn": "139001"]),
            ProtocolFixture.line(["type": "error", "message": "row 7: date missing", "ref": "pupils.csv:7"]),
            "[1, 2]",
        ])
        guard case .rejected(let unknown) = outcome[0], case .rejected(let error) = outcome[1], case .rejected(let array) = outcome[2] else {
            Issue.record("expected three rejections")
            return
        }
        #expect(unknown.reason == "unknown record type 'timetable'")
        #expect(error.reason == "the plugin could not read a record: row 7: date missing")
        #expect(error.ref == "pupils.csv:7")
        #expect(array.reason == "a record must be a JSON object, got an array")
    }

    @Test func protocolBreachesThrow() throws {
        var validator = RecordStreamValidator(pluginName: "fixture", boundSchools: nil, today: nil)
        #expect(throws: ProtocolViolation(line: 1, "header.protocol is 2; this supervisor speaks protocol 1")) {
            _ = try validator.consume(Array(#"{"type":"header","protocol":2,"plugin":"fixture"}"#.utf8), number: 1)
        }
        var ended = RecordStreamValidator(pluginName: "fixture", boundSchools: nil, today: nil)
        _ = try ended.consume(Array(ProtocolFixture.header().utf8), number: 1)
        _ = try ended.consume(Array(ProtocolFixture.end([:]).utf8), number: 2)
        #expect(throws: ProtocolViolation(line: 3, "output continues after the end record")) {
            _ = try ended.consume(Array(ProtocolFixture.pupil(1).utf8), number: 3)
        }
        try ended.finish()
    }

    @Test func sha256MatchesKnownVectors() {
        #expect(SHA256.hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let long = String(repeating: "a", count: 1_000_000)
        #expect(SHA256.hex(long) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        var pieces = SHA256()
        for chunk in ["ab", "c"] { pieces.update(Array(chunk.utf8)) }
        #expect(pieces.hexDigest() == SHA256.hex("abc"))
    }
}

@Suite("JSON parser for untrusted lines")
struct JSONParserTests {
    func parse(_ text: String) -> JSONValue? { try? JSONValue.parse(Array(text.utf8)) }

    @Test func readsEveryKindOfValue() {
        #expect(parse(#"{"a":[1,-2.5e3,true,false,null,"x\"y\\z\u00e9\ud83d\ude00\n"],"b":{}}"#) == .object([
            "a": .array([.number(1), .number(-2500), .bool(true), .bool(false), .null, .string("x\"y\\zé😀\n")]),
            "b": .object([:]),
        ]))
        #expect(parse("  0 ") == .number(0))
        #expect(parse(#""Zoë""#) == .string("Zoë"))
    }

    @Test func refusesWhatIsNotStrictJSON() {
        for bad in [#"{"a":1,}"#, "[1 2]", "01", "1.", ".5", "+1", "tru", "nul", #"{"a" 1}"#, #""\x""#,
                    "\"tab\there\"", #""\ud800""#, "{} {}", "", "NaN", "1e999", String(repeating: "[", count: 100) + String(repeating: "]", count: 100)] {
            #expect(parse(bad) == nil, "accepted: \(bad)")
        }
        #expect((try? JSONValue.parse([0x22, 0xFF, 0x22])) == nil, "invalid UTF-8 accepted")
    }
}
