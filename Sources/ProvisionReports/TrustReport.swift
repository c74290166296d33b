import Foundation
import ProvisionModel

/// The trust view (DESIGN §8): the schools side by side: need profile, provision, cost,
/// impact and open alerts.
enum TrustReport {
    static func build(_ data: ReportData) async throws -> Report {
        let schools = try await data.schools(only: nil)
        let topNeeds = try await mainNeeds(data)
        // A trust-wide evaluation is the latest run of every school it covered: its outcomes
        // are read once, not once per school (which grew with the square of the schools).
        var outcomesOfRun: [Int64: [ReportData.Outcome]] = [:]
        var rows: [[ReportDocument.Cell]] = []
        var csvRows: [[String]] = []
        var schoolsJSON: [JSONValue] = []
        var totals = (onRoll: 0, sen: 0, ehcp: 0, served: 0, provisions: 0, cost: 0.0, alerts: 0, overdue: 0)
        for school in schools {
            let summary = try await SchoolSummary.read(data, school: school)
            let provisions = try await data.provisions(schoolIDs: [school.id])
            let cost = provisions.map(\.termCost).reduce(0, +)
            // Verdicts of the term's provisions from the school's latest evaluation: the run its
            // open alerts come from, counted exactly as the school's impact report counts them.
            var verdicts: [String: Int] = [:]
            if let run = try await data.evaluationRun(school: school) {
                let outcomes: [ReportData.Outcome]
                if let read = outcomesOfRun[run.id] {
                    outcomes = read
                } else {
                    outcomes = try await data.outcomes(runID: run.id, programmes: false)
                    outcomesOfRun[run.id] = outcomes
                }
                let ids = Set(provisions.map(\.id))
                for outcome in outcomes where outcome.provisionID.map(ids.contains) ?? false {
                    verdicts[outcome.verdict, default: 0] += 1
                }
            }
            let alerts = try await data.db.query(
                "SELECT rule, count(*) AS n FROM alerts WHERE school_id = $1 AND status = 'open' GROUP BY rule ORDER BY rule", school.id
            ).rows.map { (try $0.decode("rule", as: String.self), try $0.decode("n", as: Int.self)) }
            let openAlerts = alerts.map(\.1).reduce(0, +)
            let sen = summary.senSupport + summary.ehcp
            totals.onRoll += summary.onRoll
            totals.sen += summary.senSupport
            totals.ehcp += summary.ehcp
            totals.served += summary.receivingProvision
            totals.provisions += provisions.count
            totals.cost += cost
            totals.alerts += openAlerts
            totals.overdue += summary.reviewsOverdue
            let verdictText = ["effective", "inconclusive", "ineffective"].map { "\(verdicts[$0] ?? 0) \($0)" }.joined(separator: ", ")
            rows.append([
                ReportDocument.Cell("\(school.name) (\(school.urn))"), ReportDocument.Cell("\(summary.onRoll)"),
                ReportDocument.Cell("\(summary.senSupport) (\(Format.share(summary.senSupport, of: summary.onRoll)))"),
                ReportDocument.Cell("\(summary.ehcp) (\(Format.share(summary.ehcp, of: summary.onRoll)))"),
                ReportDocument.Cell((topNeeds[school.id] ?? []).joined(separator: ", ")),
                ReportDocument.Cell("\(provisions.count)"),
                ReportDocument.Cell(Format.share(summary.receivingProvision, of: sen),
                                    tone: sen > 0 && Double(summary.receivingProvision) / Double(sen) < 0.5 ? .bad : nil),
                ReportDocument.Cell(Format.pounds(cost)), ReportDocument.Cell(sen == 0 ? "–" : Format.pounds(cost / Double(sen))),
                ReportDocument.Cell(verdictText, tone: (verdicts["ineffective"] ?? 0) > 0 ? .neutral : nil),
                ReportDocument.Cell(alerts.isEmpty ? "none" : alerts.map { Vocabulary.alerts($0.0, $0.1) }.joined(separator: ", ")),
                ReportDocument.Cell("\(summary.reviewsOverdue)", tone: summary.reviewsOverdue > 0 ? .bad : nil),
            ])
            csvRows.append([school.urn, school.name, "\(summary.onRoll)", "\(summary.senSupport)", "\(summary.ehcp)",
                            "\(summary.receivingProvision)", "\(provisions.count)", Format.plain(cost),
                            "\(verdicts["effective"] ?? 0)", "\(verdicts["inconclusive"] ?? 0)", "\(verdicts["ineffective"] ?? 0)",
                            "\(verdicts["insufficient_data"] ?? 0)", "\(openAlerts)", "\(summary.withPlan)", "\(summary.reviewsOverdue)"])
            schoolsJSON.append(.object([
                "school_urn": .string(school.urn), "name": .string(school.name), "on_roll": .number(Double(summary.onRoll)),
                "sen_support": .number(Double(summary.senSupport)), "ehcp": .number(Double(summary.ehcp)),
                "receiving_provision": .number(Double(summary.receivingProvision)), "provisions": .number(Double(provisions.count)),
                "term_cost": .number(cost, places: 2),
                "verdicts": .object(verdicts.mapValues { .number(Double($0)) }),
                "open_alerts": .object(Dictionary(uniqueKeysWithValues: alerts.map { ($0.0, JSONValue.number(Double($0.1))) })),
                "with_plan": .number(Double(summary.withPlan)), "plans_overdue_for_review": .number(Double(summary.reviewsOverdue)),
            ]))
        }
        var document = ReportDocument(title: "Trust overview: \(data.config.trust.name)", subtitle: "\(data.term.title): the schools side by side")
        document.facts = [
            ("schools", "\(schools.count)"), ("pupils on roll", "\(totals.onRoll)"),
            ("on SEN support", "\(totals.sen)"), ("with an EHC plan", "\(totals.ehcp)"),
            ("receiving provision", Format.share(totals.served, of: totals.sen + totals.ehcp)),
            ("whole-term cost", Format.pounds(totals.cost)), ("open alerts", "\(totals.alerts)"),
            ("plans overdue for review", "\(totals.overdue)"),
        ]
        document.sections.append(ReportDocument.Section(
            heading: "Schools",
            table: ReportDocument.Table(
                columns: ["School", "On roll", "SEN support", "EHC plans", "Main needs", "Provisions", "SEN pupils served",
                          "Cost this term", "Cost per SEN pupil", "Verdicts", "Open alerts", "Plans overdue for review"],
                numeric: [1, 2, 3, 5, 6, 7, 8, 11], rows: rows,
                totals: ["Trust", ReportDocument.Cell("\(totals.onRoll)"), ReportDocument.Cell("\(totals.sen)"),
                         ReportDocument.Cell("\(totals.ehcp)"), "", ReportDocument.Cell("\(totals.provisions)"),
                         ReportDocument.Cell(Format.share(totals.served, of: totals.sen + totals.ehcp)),
                         ReportDocument.Cell(Format.pounds(totals.cost)), "", "", ReportDocument.Cell("\(totals.alerts)"),
                         ReportDocument.Cell("\(totals.overdue)")])))
        let json = JSONValue.object([
            "report": .string("trust"), "trust": .string(data.config.trust.name), "term": .string(data.term.description),
            "schools": .array(schoolsJSON),
        ])
        return Report(
            kind: .trust, document: document,
            csvColumns: ["school_urn", "school", "on_roll", "sen_support", "ehcp", "receiving_provision", "provisions", "term_cost",
                         "effective", "inconclusive", "ineffective", "insufficient_data", "open_alerts", "with_plan",
                         "plans_overdue_for_review"],
            csvRows: csvRows, json: json)
    }

    /// Each school's three commonest primary needs among its pupils on SEN support or with an
    /// EHC plan ("SPLD 41"), most pupils first; a school with none is absent. One query for the
    /// trust: asked school by school, each asking read every school's needs.
    static func mainNeeds(_ data: ReportData) async throws -> [Int64: [String]] {
        var needs: [Int64: [String]] = [:]
        for row in try await data.db.query(
            """
            SELECT school_id, code, pupils FROM (
                SELECT p.school_id, n.code, count(*) AS pupils,
                       row_number() OVER (PARTITION BY p.school_id ORDER BY count(*) DESC, n.code) AS place
                  FROM pupils p JOIN pupil_needs n ON n.pupil_id = p.id AND n.rank = 1
                 WHERE p.on_roll AND p.sen_provision IN ('K', 'E')
                 GROUP BY p.school_id, n.code) counted
             WHERE place <= 3
             ORDER BY school_id, place
            """
        ).rows {
            needs[try row.decode("school_id", as: Int64.self), default: []].append(
                "\(try row.decode("code", as: String.self)) \(try row.decode("pupils", as: Int.self))")
        }
        return needs
    }
}
