import Foundation
import ImporterKit
import ProvisionModel

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// Streams a Common Transfer File with `XMLParser`, writing each pupil's records when its
/// `Pupil` element closes, so memory stays constant whatever the file's size.
///
/// Elements are matched by name within their parent's context rather than by absolute
/// path, because the MIS suppliers' CTF 19–25 files differ in where optional blocks sit.
/// Vendor `SuppInfo` blocks are skipped wherever they appear. Text is trimmed (values may
/// carry stray spaces) and may arrive in several `foundCharacters` pieces.
final class CTFReader: NSObject, XMLParserDelegate {
    private let writer: RecordWriter
    private let fileName: String
    private let boundSchools: [String]

    private var path: [String] = []
    /// The deepest nesting read; a CTF's is under ten.
    static let maxDepth = 64
    private var text = ""
    private var suppInfoDepth = 0
    private var pupilIndex = 0

    // Header/SourceSchool
    private var sourceSchool: [String: String] = [:]
    private(set) var schoolURN: String?

    // The pupil being read.
    private var pupil: [String: String] = [:]
    private var senPeriods: [[String: String]] = []
    private var senPeriod: [String: String] = [:]
    private var needs: [[String: String]] = []
    private var need: [String: String] = [:]
    private var stage = ""
    private var assessment: [String: String] = [:]
    private var assessments: [[String: String]] = []

    private(set) var pupils = 0
    private(set) var skippedResults = 0
    private(set) var unreadableYearGroups = 0
    /// SENtype values that are not a School Census need type (left out of the pupil's needs).
    private(set) var unreadableNeeds = 0
    /// The first parse error, with the element path it happened in.
    private(set) var failure: String?

    /// How text the parser read in a single-byte encoding is taken.
    enum SingleByteText {
        /// As Windows-1252 (``Windows1252/repairingLatin1(_:)``): what Windows software that
        /// says ISO-8859-1 writes.
        case windows1252
        /// As the UTF-8 its bytes are: a file that says ISO-8859-1 but is UTF-8 throughout,
        /// which read as labelled turned Łukasz into Åukasz.
        case utf8
    }

    /// Set when the file is read in a single-byte encoding: how its text is taken.
    private let singleByte: SingleByteText?

    init(writer: RecordWriter, fileName: String, boundSchools: [String], singleByte: SingleByteText? = nil) {
        self.writer = writer
        self.fileName = fileName
        self.boundSchools = boundSchools
        self.singleByte = singleByte
    }

    /// `text` as the file's bytes mean it.
    private func repaired(_ text: String) -> String {
        switch singleByte {
        case nil: text
        case .windows1252: Windows1252.repairingLatin1(text)
        case .utf8: Windows1252.bytes(of: text).flatMap { String(validating: $0, as: UTF8.self) } ?? Windows1252.repairingLatin1(text)
        }
    }

    /// The element path for messages: `CTfile/CTFpupilData/Pupil[12]/DOB`.
    private var location: String {
        var parts: [String] = []
        for name in path {
            parts.append(name == "Pupil" && pupilIndex > 0 ? "Pupil[\(pupilIndex)]" : name)
        }
        return parts.joined(separator: "/")
    }

    private func parent(_ levels: Int = 1) -> String? {
        path.count > levels ? path[path.count - 1 - levels] : nil
    }

    private var insidePupil: Bool { path.contains("Pupil") }

    func parser(
        _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
        attributes: [String: String] = [:]
    ) {
        path.append(name)
        text = ""
        // A CTF nests a handful of levels. Without a bound, each element's checks of the path
        // made a file of 100,000 nested elements take 29 s, and a larger one the whole
        // plugin time limit.
        if path.count > Self.maxDepth {
            failure = "elements nest more than \(Self.maxDepth) deep at line \(parser.lineNumber) (in \(location.split(separator: "/").prefix(8).joined(separator: "/"))/…): "
                + "a CTF nests a few levels; this file is malformed or hostile"
            parser.abortParsing()
            return
        }
        if name == "SuppInfo" || suppInfoDepth > 0 {
            suppInfoDepth += 1
            return
        }
        if path.count == 1 && name != "CTfile" {
            failure = "the root element is <\(name)>, not <CTfile>: this is not a Common Transfer File"
            parser.abortParsing()
            return
        }
        switch name {
        case "Pupil" where parent() == "CTFpupilData":
            pupilIndex += 1
            pupil = [:]
            senPeriods = []
            needs = []
            assessments = []
        case "SEN" where insidePupil: senPeriod = [:]
        case "SENneed" where insidePupil: need = [:]
        case "StageAssessment" where insidePupil: assessment = ["Stage": stage]
        default: break
        }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        if suppInfoDepth == 0 { text += string }
    }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        defer {
            path.removeLast()
            text = ""
        }
        if suppInfoDepth > 0 {
            suppInfoDepth -= 1
            return
        }
        let value = repaired(text.trimmedWhitespace)
        let container = parent()
        if path.contains("SourceSchool"), container == "SourceSchool" {
            sourceSchool[name] = value
            return
        }
        if name == "SourceSchool" {
            finishSourceSchool(parser)
            return
        }
        guard insidePupil else { return }
        switch (container, name) {
        case ("Pupil", "Pupil"): break
        case ("CTFpupilData", "Pupil"): finishPupil()
        case ("Pupil", _), ("BasicDetails", _): pupil[name] = value
        case ("SEN", _): senPeriod[name] = value
        case ("SENhistory", "SEN"): senPeriods.append(senPeriod)
        case ("SENneed", _): need[name] = value
        case ("SENneeds", "SENneed"): needs.append(need)
        case ("KeyStage", "Stage"):
            stage = value
        case ("StageAssessment", _): assessment[name] = value
        case ("KeyStage", "StageAssessment"): assessments.append(assessment)
        default: break
        }
    }

    func parser(_ parser: XMLParser, parseErrorOccurred error: any Error) {
        if failure == nil {
            failure = "the XML is malformed at line \(parser.lineNumber), column \(parser.columnNumber) (in \(location)): \(ParseErrorWording.describe(error))"
        }
    }

    private func finishSourceSchool(_ parser: XMLParser) {
        let urn = sourceSchool["URN"] ?? ""
        if urn.count == 6, urn.allSatisfy(\.isNumber) {
            schoolURN = urn
        } else if boundSchools.count == 1 {
            // Exports carry XXXXXX (or nothing) when the MIS does not know the URN.
            schoolURN = boundSchools[0]
            Diagnostics.note("ctf: \(fileName): Header/SourceSchool/URN is '\(urn)'; using the source's one bound school \(boundSchools[0])")
        } else {
            failure = "Header/SourceSchool/URN is '\(urn)', not a URN, and the source is bound to \(boundSchools.count) schools, so the pupils' school is unknown"
            parser.abortParsing()
            return
        }
        let laestab = (sourceSchool["LEA"] ?? "") + (sourceSchool["Estab"] ?? "")
        writer.record("school", [
            "urn": .string(schoolURN ?? ""), "laestab": laestab.count == 7 ? .string(laestab) : nil,
            "name": .text(sourceSchool["SchoolName"]),
        ])
    }

    private func finishPupil() {
        let ref = "\(fileName): CTfile/CTFpupilData/Pupil[\(pupilIndex)]"
        guard let urn = schoolURN else {
            writer.error("Pupil before Header/SourceSchool: the school is unknown", ref: ref)
            return
        }
        for required in ["UPN", "Surname", "Forename", "DOB"] where (pupil[required] ?? "").isEmpty {
            writer.error("\(required) is missing or empty", ref: "\(ref)/\(required)")
            return
        }
        guard let dob = DateLayout.iso.parse(pupil["DOB"] ?? "") else {
            writer.error("DOB is not a date (YYYY-MM-DD)", ref: "\(ref)/DOB")
            return
        }
        var yearGroup: String?
        if let year = pupil["NCyearActual"], !year.isEmpty {
            yearGroup = SchoolVocabulary.yearGroup(year)
            if yearGroup == nil { unreadableYearGroups += 1 }
        }
        // The current SEN status is the open period (no EndDate); with none open, no SEN.
        let open = senPeriods.filter { ($0["EndDate"] ?? "").isEmpty }
            .max { ($0["StartDate"] ?? "") < ($1["StartDate"] ?? "") }
        // An open period whose status cannot be read rejects the pupil: taken for no SEN (as it
        // once was), a pupil with an EHC plan would drop out of every check of their provision.
        var provision = "N"
        if let open {
            guard let read = SchoolVocabulary.senProvision(open["SENprovision"] ?? "") else {
                writer.error("SENprovision '\((open["SENprovision"] ?? "").prefix(20))' of the open SEN period is not N, K or E", ref: "\(ref)/SENhistory")
                return
            }
            provision = read
        }
        let sinceDate = open.flatMap { $0["StartDate"] }.flatMap { DateLayout.iso.parse($0) }
        var needRecords: [JSONValue] = []
        var seen: Set<String> = []
        for (position, entry) in needs.enumerated() {
            guard let code = entry["SENtype"].flatMap(SchoolVocabulary.needCode) else {
                unreadableNeeds += 1
                continue
            }
            guard seen.insert(code).inserted else { continue }
            let rank = Int(entry["SENtypeRank"] ?? "") ?? position + 1
            needRecords.append(.object(["code": .string(code), "rank": .number(Double(max(1, rank)))]))
        }
        let gender = (pupil["Gender"] ?? pupil["Sex"]).flatMap(SchoolVocabulary.gender)
        // Entry and leaving dates, when the export carries them (BasicDetails/EntryDate,
        // BasicDetails/LeavingDate); a value that is not a date is left out.
        let admitted = pupil["EntryDate"].flatMap { DateLayout.iso.parse($0) }
        let left = pupil["LeavingDate"].flatMap { DateLayout.iso.parse($0) }
        writer.record("pupil", [
            "school_urn": .string(urn), "upn": .string(pupil["UPN"] ?? ""), "surname": .text(pupil["Surname"]),
            "forename": .text(pupil["Forename"]), "dob": .string(dob.iso), "gender": gender.map { .string($0) },
            "year_group": yearGroup.map { .string($0) }, "sen_provision": .string(provision),
            "sen_start_date": sinceDate.map { .string($0.iso) },
            "admission_date": admitted.map { .string($0.iso) }, "leaving_date": left.map { .string($0.iso) },
            "needs": provision == "N" && needRecords.isEmpty ? nil : .array(needRecords),
        ])
        pupils += 1
        for (index, result) in assessments.enumerated() {
            // Only numeric results are assessment points; grades and codes are skipped.
            guard let value = Double(result["Result"] ?? ""), value.isFinite else {
                skippedResults += 1
                continue
            }
            guard let date = DateLayout.iso.parse(result["ResultDate"] ?? "") else {
                writer.error(
                    "a numeric result has no ResultDate (YYYY-MM-DD)",
                    ref: "\(ref)/StageAssessments/KeyStage/StageAssessment[\(index + 1)]/ResultDate")
                continue
            }
            let stage = result["Stage"] ?? ""
            let method = result["Method"] ?? ""
            let subject = (result["Subject"] ?? "").lowercased()
            let component = result["Component"] ?? ""
            let scaled = method.uppercased() == "TT" && (70...130).contains(value) || component.lowercased().contains("scaled")
            writer.record("assessment", [
                "school_urn": .string(urn), "upn": .string(pupil["UPN"] ?? ""),
                "instrument": .string([stage, method, component].filter { !$0.isEmpty }.joined(separator: " ")),
                "subject": .string(subject.isEmpty ? "unknown" : subject), "measure": .string(scaled ? "scaled" : "raw"),
                "value": .number(value), "date": .string(date.iso),
            ])
        }
    }
}
