import ImporterKit
import ProvisionModel

/// Turns one CSV row into records. Throws a message for the row's `error` record; messages
/// name the column and never repeat personal values.
enum RowConverter {
    static func convert(
        _ row: CSVRecord, mapping: CSVMapping, schools: [String], writer: RecordWriter, resultsNotTaken: inout Int
    ) throws {
        func column(_ field: String) -> String? { row[mapping.columns[field]] }
        // UPNs are upper case; one typed into a marksheet by hand may not be (the other template importers do the same).
        guard let upn = column("upn")?.uppercased() else { throw ImporterError("the UPN column is empty") }
        let urn = column("school_urn") ?? schools.first ?? ""

        func date(_ field: String, personal: Bool = false) throws -> JSONValue? {
            guard let text = column(field) else { return nil }
            guard let parsed = mapping.dates.parseEitherWay(text) else {
                let shown = personal ? "" : " ('\(text)')"
                throw ImporterError("\(mapping.columns[field] ?? field)\(shown) is not a date in \(mapping.dates.rawValue)")
            }
            return .string(parsed.iso)
        }
        func code(_ field: String, _ standard: (String) -> String?) throws -> JSONValue? {
            guard let text = column(field) else { return nil }
            if let mapped = mapping.values[field]?[text.lowercased()] { return .string(mapped) }
            guard let value = standard(text) else {
                throw ImporterError("\(mapping.columns[field] ?? field) '\(text.prefix(40))' is not a known value; add it under [values.\(field)] in the mapping")
            }
            return .string(value)
        }
        func flag(_ field: String) throws -> JSONValue? {
            guard let text = column(field) else { return nil }
            guard let value = mapping.values[field]?[text.lowercased()].flatMap(SchoolVocabulary.flag) ?? SchoolVocabulary.flag(text) else {
                throw ImporterError("\(mapping.columns[field] ?? field) '\(text.prefix(20))' is not yes or no; add it under [values.\(field)] in the mapping")
            }
            return .bool(value)
        }

        switch mapping.produces {
        case .pupil:
            var needs: [JSONValue] = []
            for (rank, needColumn) in mapping.needColumns.enumerated() {
                guard let text = row[needColumn] else { continue }
                guard let needCode = mapping.values["needs"]?[text.lowercased()] ?? SchoolVocabulary.needCode(text) else {
                    throw ImporterError(
                        "\(needColumn) '\(text.prefix(60))' is not a School Census need type; add it under [values.needs] in the mapping")
                }
                needs.append(.object(["code": .string(needCode), "rank": .number(Double(rank + 1))]))
            }
            writer.record("pupil", [
                "school_urn": .string(urn), "upn": .string(upn),
                "surname": .text(column("surname")), "forename": .text(column("forename")),
                "dob": try date("dob", personal: true), "gender": try code("gender", SchoolVocabulary.gender),
                "year_group": try code("year_group", SchoolVocabulary.yearGroup),
                "sen_provision": try code("sen_provision", SchoolVocabulary.senProvision),
                "sen_start_date": try date("sen_start_date"), "admission_date": try date("admission_date"),
                "leaving_date": try date("leaving_date"), "fsm": try flag("fsm"),
                "pupil_premium": try flag("pupil_premium"), "eal": try flag("eal"),
                "looked_after": try flag("looked_after"),
                "needs": mapping.needColumns.isEmpty ? nil : .array(needs),
            ])
        case .assessment:
            // Validate the whole row first, so a bad cell never leaves half a row's records.
            var records: [[String: JSONValue?]] = []
            var notTaken = 0
            for assessment in mapping.assessments {
                guard let text = row[assessment.valueColumn] else { continue }  // not tested: no record
                if SchoolVocabulary.notTaken(text) {  // absent, n/a: no record either
                    notTaken += 1
                    continue
                }
                let value = try SpreadsheetNumber.score(text, measure: assessment.measure, column: assessment.valueColumn)
                let when: String
                if let fixed = assessment.fixedDate {
                    when = fixed
                } else if let dateColumn = assessment.dateColumn, let dateText = row[dateColumn] {
                    guard let parsed = mapping.dates.parseEitherWay(dateText) else {
                        throw ImporterError("\(dateColumn) ('\(dateText.prefix(20))') is not a date in \(mapping.dates.rawValue)")
                    }
                    when = parsed.iso
                } else {
                    throw ImporterError("\(assessment.dateColumn ?? "date") is empty but \(assessment.valueColumn) has a score")
                }
                records.append([
                    "school_urn": .string(urn), "upn": .string(upn), "instrument": .string(assessment.instrument),
                    "subject": .string(assessment.subject), "measure": .string(assessment.measure),
                    "value": .number(value), "date": .string(when),
                ])
            }
            for record in records { writer.record("assessment", record) }
            resultsNotTaken += notTaken
        }
    }
}
