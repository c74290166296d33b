import Foundation
import ImporterKit
import ProvisionModel
import ProvisionTOML

/// A mapping file: which CSV column holds which protocol field, the date layout, the
/// encoding, and which record type the file produces (see config/mappings/ and
/// docs/importers.md).
struct CSVMapping {
    enum Produces: String { case pupil, assessment }

    /// One assessment a marksheet row carries (a marksheet may carry several).
    struct AssessmentColumns {
        let instrument: String
        let subject: String
        let measure: String
        let valueColumn: String
        let dateColumn: String?
        let fixedDate: String?
    }

    let name: String
    let produces: Produces
    /// nil: detected per file (``EncodingSniffer``), the default.
    let encoding: CSVEncoding?
    let dates: DateLayout
    /// nil: commas, or semicolons or tabs when a file's header says so, the default.
    let delimiter: Character?
    /// Protocol field → CSV column header.
    let columns: [String: String]
    /// Columns holding needs, in rank order.
    let needColumns: [String]
    /// Per field, MIS wording → protocol code.
    let values: [String: [String: String]]
    let assessments: [AssessmentColumns]

    static let pupilFields = [
        "upn", "surname", "forename", "dob", "gender", "year_group", "sen_provision", "sen_start_date",
        "admission_date", "leaving_date", "fsm", "pupil_premium", "eal", "looked_after", "school_urn",
    ]

    /// Finds a mapping: `MAPPING` may be a path or a preset name; a `mapping.toml` in a
    /// folder source is used when `MAPPING` is not set.
    static func locate(_ invocation: ImporterInvocation) throws -> String {
        if let chosen = invocation.environment["MAPPING"], !chosen.isEmpty {
            if chosen.contains("/") { return chosen }
            for folder in presetFolders(invocation) where FileManager.default.fileExists(atPath: "\(folder)/\(chosen).toml") {
                return "\(folder)/\(chosen).toml"
            }
            throw ImporterError(
                "no mapping preset '\(chosen)' in \(presetFolders(invocation).joined(separator: ", ")); set MAPPING to a preset name or a file path")
        }
        let local = invocation.source + "/mapping.toml"
        if FileManager.default.fileExists(atPath: local) { return local }
        throw ImporterError("no mapping: set the source's env MAPPING (a preset such as sims-pupils-sen, or a path), or put mapping.toml in the source folder")
    }

    /// Where presets live: $MAPPINGS_DIR, then the ones shipped with the program
    /// (share/provision/mappings installed, config/mappings built from source).
    static func presetFolders(_ invocation: ImporterInvocation) -> [String] {
        [invocation.environment["MAPPINGS_DIR"], InstalledFiles.folder("mappings")].compactMap { $0 }
    }

    static func load(_ path: String) throws(ConfigError) -> CSVMapping {
        let document = try TOMLDocument(contentsOf: path)
        let root = document.root
        let producesText = try root.requiredString("produces")
        guard let produces = Produces(rawValue: producesText) else {
            throw root.error("produces", "must be 'pupil' or 'assessment', got '\(producesText)'")
        }
        let encodingText = try root.string("encoding") ?? "auto"
        let encoding = CSVEncoding(rawValue: encodingText.lowercased())
        guard encoding != nil || encodingText.lowercased() == "auto" else {
            throw root.error("encoding", "must be auto, utf-8 or windows-1252, got '\(encodingText)'")
        }
        let dateText = try root.string("date_format") ?? "dd/mm/yyyy"
        guard let dates = DateLayout(rawValue: dateText.lowercased()) else {
            throw root.error("date_format", "must be dd/mm/yyyy or yyyy-mm-dd, got '\(dateText)'")
        }
        let delimiterText = try root.string("delimiter")
        let delimiter = delimiterText?.first
        guard delimiterText == nil || (delimiterText?.count == 1 && delimiter?.isASCII == true) else {
            throw root.error("delimiter", "must be one ASCII character")
        }
        _ = try root.string("description")

        var columns: [String: String] = [:]
        var needColumns: [String] = []
        if let section = try root.section("columns") {
            for field in pupilFields {
                if let column = try section.string(field) { columns[field] = column }
            }
            needColumns = try section.stringArray("needs") ?? []
            try section.finish()
        }
        guard columns["upn"] != nil else { throw root.error("columns", "must name the upn column") }
        if produces == .pupil {
            for field in ["surname", "forename", "dob"] where columns[field] == nil {
                throw root.error("columns", "must name the \(field) column for pupil records")
            }
        }

        var values: [String: [String: String]] = [:]
        if let section = try root.section("values") {
            // A wording mapped to something that is not a code would reject every row using it.
            let yesOrNo: Set<String> = ["yes", "no"]
            let fields: [(String, Set<String>)] = [
                ("gender", Codes.genders), ("year_group", Codes.yearGroups), ("sen_provision", Codes.senProvision),
                ("needs", Codes.needTypes), ("fsm", yesOrNo), ("pupil_premium", yesOrNo), ("eal", yesOrNo), ("looked_after", yesOrNo),
            ]
            for (field, codes) in fields {
                guard let table = try section.stringTable(field) else { continue }
                var mapped: [String: String] = [:]
                for (wording, code) in table.sorted(by: { $0.key < $1.key }) {
                    guard codes.contains(code) else {
                        throw section.error("\(field).\(wording)", "'\(code)' is not one of \(codes.sorted().joined(separator: ", "))")
                    }
                    // Wordings are matched ignoring case: "Boy" and "boy" must agree.
                    if let other = mapped.updateValue(code, forKey: wording.lowercased()), other != code {
                        throw section.error("\(field).\(wording)", "is the same wording as another key but for case, with another code")
                    }
                }
                values[field] = mapped
            }
            try section.finish()
        }

        var assessments: [AssessmentColumns] = []
        for section in try root.sections("assessments") {
            let date = try section.string("date")
            let fixed = try section.string("fixed_date")
            guard (date == nil) != (fixed == nil) else {
                throw section.error("date", "give either date (a column) or fixed_date (YYYY-MM-DD), not both or neither")
            }
            assessments.append(AssessmentColumns(
                instrument: try section.requiredString("instrument"), subject: try section.requiredString("subject"),
                measure: try section.requiredString("measure"), valueColumn: try section.requiredString("value"),
                dateColumn: date, fixedDate: fixed))
            try section.finish()
        }
        if produces == .assessment && assessments.isEmpty {
            throw root.error("assessments", "an assessment mapping needs at least one [[assessments]] table")
        }
        try root.finish()
        return CSVMapping(
            name: URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent, produces: produces,
            encoding: encoding, dates: dates, delimiter: delimiter, columns: columns, needColumns: needColumns,
            values: values, assessments: assessments)
    }

    /// The columns a file must have for this mapping.
    var requiredColumns: [String] {
        var required = [columns["upn"]].compactMap { $0 }
        if produces == .pupil {
            required += ["surname", "forename", "dob"].compactMap { columns[$0] }
        }
        for assessment in assessments {
            required.append(assessment.valueColumn)
            if let date = assessment.dateColumn { required.append(date) }
        }
        return required
    }
}
