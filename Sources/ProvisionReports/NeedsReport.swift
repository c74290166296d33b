import Foundation
import ProvisionModel

/// Needs (DESIGN §8): pupils on SEN support or with an EHC plan by primary need and year
/// group, as a heat map, with the share receiving provision in the term: where need has
/// no provision.
enum NeedsReport {
    struct Cell {
        var pupils = 0
        var withProvision = 0
    }

    static func build(_ data: ReportData, school: ReportData.School?) async throws -> Report {
        let schools = try await data.schools(only: school?.urn)
        let rows = try await data.db.query(
            """
            SELECT coalesce((SELECT n.code FROM pupil_needs n WHERE n.pupil_id = p.id ORDER BY n.rank, n.code LIMIT 1), 'NONE') AS need,
                   coalesce(p.year_group, '?') AS year_group,
                   count(*) AS pupils,
                   count(*) FILTER (WHERE EXISTS (
                       SELECT 1 FROM enrolments e WHERE e.pupil_id = p.id AND e.start_date <= $3::date
                          AND coalesce(e.end_date, $3::date) >= $2::date)) AS with_provision
              FROM pupils p
             WHERE p.on_roll AND p.sen_provision IN ('K', 'E') AND p.school_id = ANY($1::bigint[])
             GROUP BY 1, 2
            """, schools.map { String($0.id) }, data.term.start.iso, data.term.end.iso)
        var cells: [String: [String: Cell]] = [:]
        for row in rows.rows {
            let need: String = try row.decode("need")
            let year: String = try row.decode("year_group")
            cells[need, default: [:]][year] = Cell(pupils: try row.decode("pupils"), withProvision: try row.decode("with_provision"))
        }
        let years = Set(cells.values.flatMap(\.keys)).sorted { yearOrder($0) < yearOrder($1) }
        let needs = cells.keys.sorted { (cells[$0]?.values.map(\.pupils).reduce(0, +) ?? 0) > (cells[$1]?.values.map(\.pupils).reduce(0, +) ?? 0) }
        let largest = max(1, cells.values.flatMap(\.values).map(\.pupils).max() ?? 1)

        let scope = school.map { "\($0.name), URN \($0.urn)" } ?? data.config.trust.name
        var document = ReportDocument(title: "Needs: \(scope)", subtitle: "\(data.term.title): pupils on SEN support or with an EHC plan, by primary need and year group")
        let total = cells.values.flatMap(\.values).map(\.pupils).reduce(0, +)
        let served = cells.values.flatMap(\.values).map(\.withProvision).reduce(0, +)
        document.facts = [("pupils with SEN", "\(total)"), ("receiving provision this term", "\(served) (\(Format.share(served, of: total)))"),
                          ("without provision", "\(total - served)")]
        var heat: [[ReportDocument.Cell]] = []
        var gaps: [[ReportDocument.Cell]] = []
        var csvRows: [[String]] = []
        var needsJSON: [JSONValue] = []
        for need in needs {
            let byYear = cells[need] ?? [:]
            var row = [ReportDocument.Cell(need == "NONE" ? "No need recorded" : "\(Vocabulary.need(need)) (\(need))")]
            for year in years {
                let cell = byYear[year] ?? Cell()
                row.append(cell.pupils == 0
                    ? ReportDocument.Cell("", tone: .heat(0))
                    : ReportDocument.Cell("\(cell.pupils) · \(Format.share(cell.withProvision, of: cell.pupils))",
                                          tone: .heat(Double(cell.pupils) / Double(largest))))
                if cell.pupils > 0 {
                    csvRows.append([school?.urn ?? "", need, year, "\(cell.pupils)", "\(cell.withProvision)",
                                    Format.plain(Double(cell.withProvision) / Double(cell.pupils), places: 3)])
                }
            }
            let pupils = byYear.values.map(\.pupils).reduce(0, +)
            let withProvision = byYear.values.map(\.withProvision).reduce(0, +)
            row.append(ReportDocument.Cell("\(pupils)"))
            heat.append(row)
            let share = pupils == 0 ? 0 : Double(withProvision) / Double(pupils)
            gaps.append([row[0], ReportDocument.Cell("\(pupils)"), ReportDocument.Cell("\(withProvision)"),
                         ReportDocument.Cell("\(pupils - withProvision)"),
                         ReportDocument.Cell(Format.share(withProvision, of: pupils), tone: share < 0.5 ? .bad : share < 0.8 ? .neutral : .good)])
            needsJSON.append(.object([
                "need": .string(need), "pupils": .number(Double(pupils)), "with_provision": .number(Double(withProvision)),
                "by_year_group": .object(Dictionary(uniqueKeysWithValues: byYear.map { year, cell in
                    (year, JSONValue.object(["pupils": .number(Double(cell.pupils)), "with_provision": .number(Double(cell.withProvision))]))
                })),
            ]))
        }
        document.sections.append(ReportDocument.Section(
            heading: "Heat map",
            paragraphs: ["Each cell: pupils · share receiving provision this term. Darker cells have more pupils."],
            table: ReportDocument.Table(columns: ["Primary need"] + years.map { "Year \($0)" } + ["All"],
                                        numeric: Set(1...(years.count + 1)), rows: heat)))
        document.sections.append(ReportDocument.Section(
            heading: "Where need has no provision",
            table: ReportDocument.Table(
                columns: ["Primary need", "Pupils", "Receiving provision", "Without provision", "Share served"],
                numeric: [1, 2, 3, 4], rows: gaps,
                totals: ["All needs", ReportDocument.Cell("\(total)"), ReportDocument.Cell("\(served)"),
                         ReportDocument.Cell("\(total - served)"), ReportDocument.Cell(Format.share(served, of: total))])))
        let json = JSONValue.object([
            "report": .string("needs"), "school_urn": .text(school?.urn), "term": .string(data.term.description),
            "pupils": .number(Double(total)), "with_provision": .number(Double(served)), "needs": .array(needsJSON),
        ])
        return Report(
            kind: .needs, document: document,
            csvColumns: ["school_urn", "need", "year_group", "pupils", "with_provision", "share_with_provision"],
            csvRows: csvRows, json: json)
    }

    /// Reception, then years 1–14 in order, then anything else.
    static func yearOrder(_ year: String) -> Int {
        if year == "R" || year == "N1" || year == "N2" { return 0 }
        return Int(year) ?? 100
    }
}
