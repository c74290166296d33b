import Foundation
import ProvisionModel

/// Impact (DESIGN §8): per provision and per programme across the trust, the effect with
/// its interval, the verdict and the cost, with each pupil's entry → exit drawn against
/// the expected progress. What decides next term's provision.
enum ImpactReport {
    static func build(_ data: ReportData, school: ReportData.School?) async throws -> Report {
        let schools = try await data.schools(only: school?.urn)
        let run = try await data.evaluationRun(school: school)
        let provisions = try await data.provisions(schoolIDs: schools.map(\.id))
        let inTerm = Set(provisions.map(\.id))
        var outcomes: [ReportData.Outcome] = []
        if let run { outcomes = try await data.outcomes(runID: run.id, programmes: false) }
        let evaluated = outcomes.filter { outcome in outcome.provisionID.map { inTerm.contains($0) } ?? false }
        let enrolments = try await data.enrolments(provisionIDs: evaluated.compactMap(\.provisionID), runID: run?.id, wholeHistory: true)
        let byProvision = Dictionary(grouping: enrolments) { (enrolment: ReportData.Enrolment) in enrolment.provisionID }
        let trustRun = try await data.trustRun()
        var programmes: [ReportData.Outcome] = []
        if let trustRun { programmes = try await data.outcomes(runID: trustRun, programmes: true) }

        let scope = school.map { "\($0.name), URN \($0.urn)" } ?? data.config.trust.name
        var document = ReportDocument(title: "Impact of provision: \(scope)", subtitle: "\(data.term.title): provisions running in the term")
        var counts: [String: Int] = [:]
        for outcome in evaluated { counts[outcome.verdict, default: 0] += 1 }
        document.facts = [
            ("provisions evaluated", "\(evaluated.count)"),
            ("effective", "\(counts["effective"] ?? 0)"),
            ("ineffective", "\(counts["ineffective"] ?? 0)"),
            ("inconclusive", "\(counts["inconclusive"] ?? 0)"),
            ("too few pupils to judge", "\(counts["insufficient_data"] ?? 0)"),
        ]
        document.sections.append(ReportDocument.Section(
            heading: "Provisions",
            paragraphs: [
                "Effect: for reading and spelling ages the mean ratio gain (months gained per month; 1 is ordinary progress, 1.4 Brooks' 'modest impact'), for standardised scores the mean change (0 keeps pace with peers). The comparison is the mean gain beyond similar pupils who were not in the provision. Value added is the exit beyond what each pupil's own earlier results predicted (leaving out the result they were chosen on): extra months of progress a month for reading ages, points for standardised scores; a small group's is pooled with its programme elsewhere in the trust. The verdict rests on the value added when enough pupils have a prediction. A verdict needs at least the configured number of pupils with entry and exit data. Costs here are to date (staff time from each provision's start to the evaluation's date, plus resources); the provision map and the costs report give the whole-term cost.",
            ],
            table: ReportDocument.Table(
                columns: ["School", "Provision", "Measure", "n", "Effect", "95% interval", "Beyond similar pupils",
                          "Value added (95% interval)", "Verdict", "Cost per pupil to date", "Cost per unit of gain to date"],
                numeric: [3, 4, 6, 9, 10],
                rows: evaluated.map(provisionRow))))
        if !programmes.isEmpty {
            document.sections.append(ReportDocument.Section(
                heading: "Programmes across the trust",
                paragraphs: ["The same programme run in several schools, judged on all its pupils together (latest trust-wide evaluation)."],
                table: ReportDocument.Table(
                    columns: ["Programme", "Measure", "n", "Effect", "95% interval", "Value added (95% interval)", "Verdict",
                              "Cost per pupil to date"],
                    numeric: [2, 3, 7],
                    rows: programmes.map(programmeRow))))
        }
        for outcome in evaluated {
            guard let id = outcome.provisionID else { continue }
            var points: [SVGChart.EntryExit] = []
            for enrolment in byProvision[id] ?? [] {
                guard let entry = enrolment.entry, let exit = enrolment.exit, enrolment.measure != nil else { continue }
                points.append(SVGChart.EntryExit(entry: entry, exit: exit, months: enrolment.months ?? 0))
            }
            guard !points.isEmpty else { continue }
            let label = "\(outcome.name): each pupil's entry and exit \(outcome.measure == "age_months" ? "age (months)" : "score")"
            document.sections.append(ReportDocument.Section(
                heading: "\(outcome.name) (\(outcome.schoolURN ?? ""))",
                paragraphs: ["\(points.count) pupil(s) with entry and exit. Dots above the dashed line made more than expected progress; verdict: \(outcome.verdict.replacingOccurrences(of: "_", with: " "))."],
                chart: SVGChart.entryExit(points, measure: outcome.measure, label: label)))
        }
        if run == nil { document.sections.append(ReportDocument.Section(heading: "No evaluation yet", paragraphs: ["Run `provisionctl evaluate`, or wait for the daemon's next evaluation."])) }
        document.footnotes = ProvisionMapReport.footnotes(run: run)

        let json = JSONValue.object([
            "report": .string("impact"), "school_urn": .text(school?.urn), "term": .string(data.term.description),
            "evaluated_as_of": .text(run?.asOf), "provisions": .array(evaluated.map(outcomeJSON)),
            "programmes": .array(programmes.map(outcomeJSON)),
        ])
        return Report(
            kind: .impact, document: document,
            csvColumns: ["school_urn", "provision_id", "name", "measure", "n", "effect", "ci_low", "ci_high", "adjusted_effect",
                         "adjusted_ci_low", "adjusted_ci_high", "verdict", "cost_per_pupil", "cost_per_unit_gain"],
            csvRows: evaluated.map(csvRow),
            json: json)
    }

    static func provisionRow(_ o: ReportData.Outcome) -> [ReportDocument.Cell] {
        var beyond = Format.number(o.adjusted, places: 2)
        if o.adjustedLow != nil { beyond += " (\(Format.interval(o.adjustedLow, o.adjustedHigh)))" }
        let verdict = ReportDocument.Cell(o.verdict.replacingOccurrences(of: "_", with: " "), tone: Vocabulary.verdictTone(o.verdict))
        return [
            ReportDocument.Cell(o.schoolURN ?? ""), ReportDocument.Cell(o.name), ReportDocument.Cell(Vocabulary.measure(o.measure)),
            ReportDocument.Cell("\(o.n)"), ReportDocument.Cell(Format.number(o.effect, places: 2)),
            ReportDocument.Cell(Format.interval(o.low, o.high)), ReportDocument.Cell(beyond), valueAddedCell(o), verdict,
            ReportDocument.Cell(Format.pounds(o.costPerPupil)), ReportDocument.Cell(Format.pounds(o.costPerUnitGain)),
        ]
    }

    static func programmeRow(_ o: ReportData.Outcome) -> [ReportDocument.Cell] {
        let verdict = ReportDocument.Cell(o.verdict.replacingOccurrences(of: "_", with: " "), tone: Vocabulary.verdictTone(o.verdict))
        return [
            ReportDocument.Cell(o.name), ReportDocument.Cell(Vocabulary.measure(o.measure)), ReportDocument.Cell("\(o.n)"),
            ReportDocument.Cell(Format.number(o.effect, places: 2)), ReportDocument.Cell(Format.interval(o.low, o.high)),
            valueAddedCell(o), verdict, ReportDocument.Cell(Format.pounds(o.costPerPupil)),
        ]
    }

    /// "1.90 (1.20 to 2.60), 6 pupils", "pooled" when drawn towards the programme; "–" without.
    static func valueAddedCell(_ o: ReportData.Outcome) -> ReportDocument.Cell {
        guard o.valueAdded != nil else { return ReportDocument.Cell("–") }
        var text = Format.number(o.valueAdded, places: 2) + " (\(Format.interval(o.valueAddedLow, o.valueAddedHigh))), \(o.valueAddedN) pupils"
        if o.pooled { text += ", pooled" }
        return ReportDocument.Cell(text)
    }

    static func csvRow(_ o: ReportData.Outcome) -> [String] {
        let figures = [o.effect, o.low, o.high, o.adjusted, o.adjustedLow, o.adjustedHigh].map { Format.plain($0, places: 3) }
        return [o.schoolURN ?? "", o.localID ?? "", o.name, o.measure, "\(o.n)"] + figures
            + [o.verdict, Format.plain(o.costPerPupil), Format.plain(o.costPerUnitGain)]
    }

    static func outcomeJSON(_ o: ReportData.Outcome) -> JSONValue {
        var fields: [String: JSONValue] = [
            "school_urn": .text(o.schoolURN), "provision_id": .text(o.localID), "name": .string(o.name),
            "measure": .string(o.measure), "n": .number(Double(o.n)), "verdict": .string(o.verdict),
        ]
        fields["effect"] = .number(o.effect)
        fields["ci_low"] = .number(o.low)
        fields["ci_high"] = .number(o.high)
        fields["adjusted_effect"] = .number(o.adjusted)
        fields["adjusted_ci_low"] = .number(o.adjustedLow)
        fields["adjusted_ci_high"] = .number(o.adjustedHigh)
        fields["value_added"] = .number(o.valueAdded)
        fields["value_added_ci_low"] = .number(o.valueAddedLow)
        fields["value_added_ci_high"] = .number(o.valueAddedHigh)
        fields["value_added_n"] = .number(Double(o.valueAddedN))
        fields["pooled_with_programme"] = .bool(o.pooled)
        fields["cost_per_pupil"] = .number(o.costPerPupil, places: 2)
        fields["cost_per_unit_gain"] = .number(o.costPerUnitGain, places: 2)
        return .object(fields)
    }
}
