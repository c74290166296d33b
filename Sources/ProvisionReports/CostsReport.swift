import Foundation
import ProvisionModel

/// Costs (DESIGN §8): by provision, area of need, funding stream and member of staff,
/// with each person's hours a week for deployment and training planning.
enum CostsReport {
    static func build(_ data: ReportData, school: ReportData.School?) async throws -> Report {
        let schools = try await data.schools(only: school?.urn)
        let provisions = try await data.provisions(schoolIDs: schools.map(\.id))
        let enrolled = try await data.enrolments(provisionIDs: provisions.map(\.id), runID: nil)
        let pupilsByProvision = Dictionary(grouping: enrolled, by: \.provisionID).mapValues { Set($0.map(\.upn)).count }
        let provisionIDs: [String] = provisions.map { String($0.id) }  // one array parameter, not one per id
        let staffRows = try await data.db.query(
            """
            SELECT s.urn AS school_urn, st.staff_id, st.name, coalesce(st.role, '') AS role, ps.provision_id
              FROM provision_staff ps JOIN staff st ON st.id = ps.staff_id JOIN schools s ON s.id = st.school_id
             WHERE ps.provision_id = ANY($1::bigint[])
             ORDER BY s.urn, st.name
            """, provisionIDs)
        var csvRows: [[String]] = []
        let scope = school.map { "\($0.name), URN \($0.urn)" } ?? data.config.trust.name
        var document = ReportDocument(title: "Costs of provision: \(scope)", subtitle: "\(data.term.title) (\(data.term.start.iso) to \(data.term.end.iso))")
        let total = provisions.map(\.termCost).reduce(0, +)
        let hours = provisions.map(\.termHours).reduce(0, +)
        document.facts = [("provisions", "\(provisions.count)"), ("hours delivered", Format.number(hours, places: 0)),
                          ("whole-term cost", Format.pounds(total))]

        document.sections.append(ReportDocument.Section(
            heading: "By provision",
            table: ReportDocument.Table(
                columns: ["School", "Provision", "Area of need", "Funding", "Hours a week", "Hours in term", "Pupils", "Whole-term cost", "Whole-term cost per pupil"],
                numeric: [4, 5, 6, 7, 8],
                rows: provisions.map { p in
                    let pupils = pupilsByProvision[p.id] ?? 0
                    csvRows.append(["provision", p.provisionID + " " + p.name, p.schoolURN, Format.plain(p.hoursPerWeek),
                                    Format.plain(p.termHours), Format.plain(p.termCost), "\(pupils)"])
                    return [ReportDocument.Cell(p.schoolURN), ReportDocument.Cell(p.name), ReportDocument.Cell(p.areaOfNeed ?? "–"),
                            ReportDocument.Cell(p.fundingStream ?? "–"), ReportDocument.Cell(Format.number(p.hoursPerWeek)),
                            ReportDocument.Cell(Format.number(p.termHours)), ReportDocument.Cell("\(pupils)"),
                            ReportDocument.Cell(p.costRecorded ? Format.pounds(p.termCost) : "cost not recorded", tone: p.costRecorded ? nil : .muted),
                            ReportDocument.Cell(pupils == 0 || !p.costRecorded ? "–" : Format.pounds(p.termCost / Double(pupils)))]
                },
                totals: ["All", "", "", "", ReportDocument.Cell(Format.number(provisions.map(\.hoursPerWeek).reduce(0, +))),
                         ReportDocument.Cell(Format.number(hours)), "", ReportDocument.Cell(Format.pounds(total)), ""])))

        func grouped(_ heading: String, _ group: String, key: (ReportData.Provision) -> String) -> [JSONValue] {
            let groups = Dictionary(grouping: provisions, by: key).sorted { $0.key < $1.key }
            var json: [JSONValue] = []
            let rows = groups.map { name, items -> [ReportDocument.Cell] in
                let cost = items.map(\.termCost).reduce(0, +)
                let termHours = items.map(\.termHours).reduce(0, +)
                csvRows.append([group, name, school?.urn ?? "", Format.plain(items.map(\.hoursPerWeek).reduce(0, +)),
                                Format.plain(termHours), Format.plain(cost), ""])
                json.append(.object(["name": .string(name), "provisions": .number(Double(items.count)),
                                     "term_hours": .number(termHours, places: 2), "term_cost": .number(cost, places: 2)]))
                return [ReportDocument.Cell(name), ReportDocument.Cell("\(items.count)"), ReportDocument.Cell(Format.number(termHours)),
                        ReportDocument.Cell(Format.pounds(cost)), ReportDocument.Cell(Format.share(Int(cost.rounded()), of: Int(total.rounded())))]
            }
            document.sections.append(ReportDocument.Section(
                heading: heading,
                table: ReportDocument.Table(columns: [group == "area_of_need" ? "Area of need" : "Funding stream", "Provisions", "Hours in term", "Whole-term cost", "Share"],
                                            numeric: [1, 2, 3, 4], rows: rows)))
            return json
        }
        let areas = grouped("By area of need", "area_of_need") { $0.areaOfNeed.map { "\($0) — \(Vocabulary.areaOfNeed($0))" } ?? "not recorded" }
        let funding = grouped("By funding stream", "funding_stream") { $0.fundingStream ?? "not recorded" }

        // Staff: a provision's hours count in full for each person who runs it.
        let byID = Dictionary(uniqueKeysWithValues: provisions.map { ($0.id, $0) })
        struct Person { var school = "", staffID = "", name = "", role = "", hoursPerWeek = 0.0, termHours = 0.0, provisions: [String] = [] }
        var people: [String: Person] = [:]
        for row in staffRows.rows {
            let urn: String = try row.decode("school_urn")
            let staffID: String = try row.decode("staff_id")
            guard let provision = byID[try row.decode("provision_id", as: Int64.self)] else { continue }
            let name: String = try row.decode("name")
            let role: String = try row.decode("role")
            var person = people[urn + "|" + staffID] ?? Person(school: urn, staffID: staffID, name: name, role: role)
            person.hoursPerWeek += provision.hoursPerWeek
            person.termHours += provision.termHours
            person.provisions.append(provision.name)
            people[urn + "|" + staffID] = person
        }
        let staff = people.values.sorted { a, b in
            if a.school != b.school { return a.school < b.school }
            if a.hoursPerWeek != b.hoursPerWeek { return a.hoursPerWeek > b.hoursPerWeek }
            return a.name < b.name
        }
        document.sections.append(ReportDocument.Section(
            heading: "By member of staff",
            paragraphs: ["Hours a week each person spends delivering provision this term, for deployment and training planning."],
            table: ReportDocument.Table(
                columns: ["School", "Staff", "Role", "Hours a week", "Hours in term", "Provisions"], numeric: [3, 4],
                rows: staff.map { p in
                    csvRows.append(["staff", p.name, p.school, Format.plain(p.hoursPerWeek), Format.plain(p.termHours), ""])
                    return [ReportDocument.Cell(p.school), ReportDocument.Cell(p.name), ReportDocument.Cell(p.role.isEmpty ? "–" : p.role),
                            ReportDocument.Cell(Format.number(p.hoursPerWeek)), ReportDocument.Cell(Format.number(p.termHours)),
                            ReportDocument.Cell(p.provisions.sorted().joined(separator: ", "))]
                })))
        document.footnotes = ["Staff time at the provision's hourly cost (else its staff's average), for the weeks inside the term, plus resources in the term the provision started."]

        let json = JSONValue.object([
            "report": .string("costs"), "school_urn": .text(school?.urn), "term": .string(data.term.description),
            "term_cost": .number(total, places: 2), "term_hours": .number(hours, places: 2),
            "provisions": .array(provisions.map { p in
                .object(["school_urn": .string(p.schoolURN), "provision_id": .string(p.provisionID), "name": .string(p.name),
                         "area_of_need": .text(p.areaOfNeed), "funding_stream": .text(p.fundingStream),
                         "hours_per_week": .number(p.hoursPerWeek, places: 2), "term_hours": .number(p.termHours, places: 2),
                         "term_cost": .number(p.costRecorded ? p.termCost : nil, places: 2), "pupils": .number(Double(pupilsByProvision[p.id] ?? 0))])
            }),
            "areas_of_need": .array(areas), "funding_streams": .array(funding),
            "staff": .array(staff.map { p in
                .object(["school_urn": .string(p.school), "staff_id": .string(p.staffID), "name": .string(p.name),
                         "role": .string(p.role), "hours_per_week": .number(p.hoursPerWeek, places: 2),
                         "term_hours": .number(p.termHours, places: 2)])
            }),
        ])
        return Report(
            kind: .costs, document: document,
            csvColumns: ["group", "name", "school_urn", "hours_per_week", "term_hours", "term_cost", "pupils"],
            csvRows: csvRows, json: json)
    }
}
