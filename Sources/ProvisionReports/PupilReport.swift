import Foundation
import ProvisionModel

/// One pupil's history (DESIGN §8): every provision they have had, with dates, staff,
/// entry and exit and progress, for reviews and for sharing with parents.
enum PupilReport {
    struct NotFound: Error, CustomStringConvertible {
        let upn: String
        var description: String { "no pupil with UPN \(upn) in the database" }
    }

    static func build(_ data: ReportData, upn: String) async throws -> Report {
        guard let pupil = try await data.db.query(
            """
            SELECT p.id, p.upn, p.forename, p.surname, p.year_group, p.sen_provision, p.on_roll,
                   s.id AS school_id, s.urn AS school_urn, s.name AS school,
                   coalesce((SELECT string_agg(n.code, ', ' ORDER BY n.rank) FROM pupil_needs n WHERE n.pupil_id = p.id), '') AS needs
              FROM pupils p JOIN schools s ON s.id = p.school_id WHERE p.upn = $1
            """, upn
        ).singleRow() else { throw NotFound(upn: upn) }
        let pupilID: Int64 = try pupil.decode("id")
        let schoolURN: String = try pupil.decode("school_urn")
        let name = "\(try pupil.decode("forename", as: String.self)) \(try pupil.decode("surname", as: String.self))"
        let school = ReportData.School(id: try pupil.decode("school_id"), urn: schoolURN, name: try pupil.decode("school"))
        let run = try await data.evaluationRun(school: school)
        let history = try await data.db.query(
            """
            SELECT \(ReportData.enrolmentColumns),
                   pr.name AS provision, pr.provision_id AS local_id, s.urn AS school_urn, e.target,
                   coalesce((SELECT string_agg(st.name, ', ' ORDER BY st.name) FROM provision_staff ps
                               JOIN staff st ON st.id = ps.staff_id WHERE ps.provision_id = pr.id), '') AS staff
              FROM enrolments e JOIN pupils p ON p.id = e.pupil_id JOIN provisions pr ON pr.id = e.provision_id
              JOIN schools s ON s.id = pr.school_id
              LEFT JOIN enrolment_outcomes o ON o.enrolment_id = e.id AND o.evaluation_run_id = $2
             WHERE e.pupil_id = $1
             ORDER BY e.start_date, pr.name
            """, pupilID, run?.id)
        var document = ReportDocument(title: "Provision history: \(name)", subtitle: "\(school.name), URN \(schoolURN)")
        let senStatus = ["K": "SEN support", "E": "EHC plan", "N": "no SEN recorded"][try pupil.decode("sen_provision", as: String.self)] ?? "–"
        let needs: String = try pupil.decode("needs")
        document.facts = [
            ("UPN", upn), ("year group", try pupil.decode("year_group", as: String?.self) ?? "–"),
            ("SEN status", senStatus), ("needs (in order)", needs.isEmpty ? "none recorded" : needs),
            ("provisions", "\(history.rows.count)"),
        ]
        var rows: [[ReportDocument.Cell]] = []
        var csvRows: [[String]] = []
        var items: [JSONValue] = []
        for row in history.rows {
            let enrolment = try ReportData.enrolment(row)
            let provision: String = try row.decode("provision")
            let staff: String = try row.decode("staff")
            let words = [
                enrolment.progressMade.map { $0 ? "progress made" : "no progress" },
                enrolment.accelerated.map { $0 ? "faster than expected" : nil } ?? nil,
                enrolment.gapNarrowed.map { $0 ? "gap narrowed" : "gap not narrowed" },
            ].compactMap { $0 }.joined(separator: ", ")
            let progress = enrolment.measure == "age_months" ? "ratio gain \(Format.number(enrolment.ratioGain, places: 2))" : "change \(Format.number(enrolment.gain))"
            rows.append([
                ReportDocument.Cell(provision), ReportDocument.Cell(enrolment.startDate), ReportDocument.Cell(enrolment.endDate ?? "ongoing"),
                ReportDocument.Cell(staff.isEmpty ? "–" : staff), ReportDocument.Cell(Vocabulary.measure(enrolment.measure)),
                ReportDocument.Cell(Format.number(enrolment.entry, places: 1)), ReportDocument.Cell(Format.number(enrolment.exit, places: 1)),
                ReportDocument.Cell(enrolment.gain == nil ? "–" : progress),
                ReportDocument.Cell(words.isEmpty ? "–" : words, tone: enrolment.progressMade.map { $0 ? .good : .bad }),
            ])
            csvRows.append([upn, try row.decode("school_urn"), try row.decode("local_id"), provision, enrolment.startDate,
                            enrolment.endDate ?? "", staff, enrolment.measure ?? "", Format.plain(enrolment.entry, places: 1),
                            Format.plain(enrolment.exit, places: 1), Format.plain(enrolment.gain, places: 1),
                            Format.plain(enrolment.ratioGain), enrolment.progressMade.map { $0 ? "yes" : "no" } ?? ""])
            var item = ProvisionMapReport.pupilJSON(enrolment)
            if case .object(var fields) = item {
                fields["provision"] = .string(provision)
                fields["provision_id"] = .string(try row.decode("local_id"))
                fields["staff"] = .string(staff)
                fields["target"] = .text(try row.decode("target"))
                fields.removeValue(forKey: "upn")
                fields.removeValue(forKey: "name")
                item = .object(fields)
            }
            items.append(item)
        }
        document.sections.append(ReportDocument.Section(
            heading: "Provision",
            table: ReportDocument.Table(
                columns: ["Provision", "From", "To", "Staff", "Measure", "Entry", "Exit", "Progress", "In words"],
                numeric: [5, 6], rows: rows)))
        if rows.isEmpty { document.sections[0].paragraphs = ["No provision recorded."] }
        document.footnotes = [
            run.map { "Progress from evaluation run \($0.id), as of \($0.asOf). A ratio gain of 1 is ordinary progress; above 1 the pupil is catching up." } ?? "Not evaluated yet.",
            "Personal data about one child: share it only with those entitled to see it.",
        ]
        let json = JSONValue.object([
            "report": .string("pupil"), "upn": .string(upn), "name": .string(name), "school_urn": .string(schoolURN),
            "year_group": .text(try pupil.decode("year_group")), "sen_provision": .string(try pupil.decode("sen_provision")),
            "on_roll": .bool(try pupil.decode("on_roll")), "needs": .array(needs.split(separator: ",").map { .string($0.trimmingCharacters(in: .whitespaces)) }),
            "provisions": .array(items),
        ])
        return Report(
            kind: .pupil, document: document,
            csvColumns: ["upn", "school_urn", "provision_id", "provision", "start_date", "end_date", "staff", "measure", "entry",
                         "exit", "gain", "ratio_gain", "progress_made"],
            csvRows: csvRows, json: json)
    }
}
