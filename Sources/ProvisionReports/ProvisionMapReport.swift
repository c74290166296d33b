import Foundation
import ProvisionModel

/// The termly provision map (DESIGN §8): what a SENCO shows governors and Ofsted.
enum ProvisionMapReport {
    static func build(_ data: ReportData, school: ReportData.School) async throws -> Report {
        let run = try await data.evaluationRun(school: school)
        let provisions = try await data.provisions(schoolIDs: [school.id])
        let enrolments = try await data.enrolments(provisionIDs: provisions.map(\.id), runID: run?.id)
        var outcomeByProvision: [Int64: ReportData.Outcome] = [:]
        if let run {
            for outcome in try await data.outcomes(runID: run.id, programmes: false) {
                if let id = outcome.provisionID { outcomeByProvision[id] = outcome }
            }
        }
        let pupilsByProvision = Dictionary(grouping: enrolments) { (enrolment: ReportData.Enrolment) in enrolment.provisionID }
        let summary = try await SchoolSummary.read(data, school: school)
        let termCost = provisions.map(\.termCost).reduce(0, +)
        let budget = data.config.school(urn: school.urn)?.notionalSENBudget

        var document = ReportDocument(
            title: "Provision map: \(school.name)", subtitle: "\(data.term.title) (\(data.term.start.iso) to \(data.term.end.iso)), URN \(school.urn)")
        document.facts = [
            ("pupils on roll", "\(summary.onRoll)"),
            ("on SEN support", "\(summary.senSupport)"),
            ("with an EHC plan", "\(summary.ehcp)"),
            ("of them receiving provision", "\(summary.receivingProvision) (\(Format.share(summary.receivingProvision, of: summary.senSupport + summary.ehcp)))"),
            ("with a current support plan", "\(summary.withPlan)"),
            ("plan reviews due this term", "\(summary.reviewsDue)"),
            ("provisions this term", "\(provisions.count)"),
            ("whole-term cost", Format.pounds(termCost)),
        ]
        if let budget {
            document.facts.append(("of a third of the notional SEN budget (\(Format.pounds(budget)) a year)",
                                   Format.share(Int(termCost.rounded()), of: Int((budget / 3).rounded()))))
        }
        var areaRows: [[ReportDocument.Cell]] = []
        var areasJSON: [JSONValue] = []
        var csvRows: [[String]] = []
        let byArea = Dictionary(grouping: provisions, by: { $0.areaOfNeed ?? "" })
        for area in ["CI", "CL", "SEMH", "SP", ""] {
            guard let group = byArea[area] else { continue }
            var rows: [[ReportDocument.Cell]] = []
            var provisionsJSON: [JSONValue] = []
            for provision in group {
                let pupils = pupilsByProvision[provision.id] ?? []
                let outcome = outcomeByProvision[provision.id]
                let impact = outcome.map { "\($0.verdict.replacingOccurrences(of: "_", with: " ")) (n \($0.n), \(Vocabulary.measure($0.measure)) \(Format.number($0.effect, places: 2)))" } ?? "not yet evaluated"
                let pupilText = pupils.map { enrolment in
                    var text = "\(enrolment.pupilName) (Y\(data.yearGroupInTerm(enrolment.yearGroup) ?? "?"))"
                    if let status = enrolment.status, status == "planned" || status == "withdrawn" {
                        text += " [\(status.uppercased())]"
                    }
                    if enrolment.entry != nil || enrolment.exit != nil {
                        text += ": \(Format.score(enrolment.entry, measure: enrolment.measure)) → \(Format.score(enrolment.exit, measure: enrolment.measure))"
                    }
                    return text
                }.joined(separator: "; ")
                // A statutory place only planned or withdrawn is EHCP provision not being delivered.
                let undelivered = provision.statutory && pupils.contains { $0.status == "planned" || $0.status == "withdrawn" }
                rows.append([
                    ReportDocument.Cell(
                        provision.name + (provision.statutory ? " (EHCP)" : "") + (undelivered ? ": not delivered to every pupil" : ""),
                        tone: undelivered ? .bad : nil),
                    ReportDocument.Cell(provision.wave.map { "Wave \($0)" } ?? "–"),
                    ReportDocument.Cell(provision.priority ?? "–"),
                    ReportDocument.Cell(provision.staff.isEmpty ? "–" : provision.staff),
                    ReportDocument.Cell(delivery(provision)),
                    ReportDocument.Cell(frequency(provision)),
                    ReportDocument.Cell(Format.number(provision.termHours)),
                    ReportDocument.Cell(provision.costRecorded ? Format.pounds(provision.termCost) : "cost not recorded",
                                        tone: provision.costRecorded ? nil : .muted),
                    ReportDocument.Cell("\(pupils.count)"),
                    ReportDocument.Cell(pupilText.isEmpty ? "–" : pupilText, tone: undelivered ? .bad : nil),
                    ReportDocument.Cell(impact, tone: outcome.flatMap { Vocabulary.verdictTone($0.verdict) }),
                ])
                provisionsJSON.append(.object([
                    "provision_id": .string(provision.provisionID), "name": .string(provision.name),
                    "wave": provision.wave.map { .number(Double($0)) } ?? .null, "priority": .text(provision.priority),
                    "statutory": .bool(provision.statutory), "staff": .string(provision.staff), "delivery": .text(provision.delivery),
                    "group_size": provision.groupSize.map { .number(Double($0)) } ?? .null,
                    "sessions_per_week": .number(provision.sessionsPerWeek),
                    "minutes_per_session": provision.minutesPerSession.map { .number(Double($0)) } ?? .null,
                    "start_date": .text(provision.startDate), "end_date": .text(provision.endDate),
                    "term_hours": .number(provision.termHours, places: 2), "term_cost": .number(provision.costRecorded ? provision.termCost : nil, places: 2),
                    "impact": outcome.map { o in
                        .object(["n": .number(Double(o.n)), "measure": .string(o.measure), "effect": .number(o.effect),
                                 "ci_low": .number(o.low), "ci_high": .number(o.high), "verdict": .string(o.verdict)])
                    } ?? .null,
                    "pupils": .array(pupils.map(pupilJSON)),
                ]))
                let provisionColumns = [
                    school.urn, area, provision.wave.map(String.init) ?? "", provision.provisionID, provision.name,
                    provision.priority ?? "", provision.staff, provision.delivery ?? "", provision.groupSize.map(String.init) ?? "",
                    Format.plain(provision.sessionsPerWeek), provision.minutesPerSession.map(String.init) ?? "",
                    Format.plain(provision.termHours), Format.plain(provision.termCost), outcome?.verdict ?? "",
                ]
                if pupils.isEmpty { csvRows.append(provisionColumns + Array(repeating: "", count: 9)) }
                for enrolment in pupils {
                    csvRows.append(provisionColumns + [
                        enrolment.upn, enrolment.pupilName, data.yearGroupInTerm(enrolment.yearGroup) ?? "", enrolment.startDate,
                        enrolment.endDate ?? "",
                        Format.plain(enrolment.entry, places: 1), Format.plain(enrolment.exit, places: 1),
                        Format.plain(enrolment.gain, places: 1), enrolment.progressMade.map { $0 ? "yes" : "no" } ?? "",
                    ])
                }
            }
            let hours = group.map(\.termHours).reduce(0, +)
            let cost = group.map(\.termCost).reduce(0, +)
            let pupils = Set(group.flatMap { pupilsByProvision[$0.id] ?? [] }.map(\.upn)).count
            document.sections.append(ReportDocument.Section(
                heading: Vocabulary.areaOfNeed(area.isEmpty ? nil : area),
                table: ReportDocument.Table(
                    columns: ["Provision", "Wave", "Priority", "Staff", "Delivery", "Frequency", "Hours", "Whole-term cost", "Pupils",
                              "Pupils (entry → exit)", "Impact so far"],
                    numeric: [6, 7, 8], rows: rows,
                    totals: [ReportDocument.Cell("Total for \(Vocabulary.areaOfNeed(area.isEmpty ? nil : area).lowercased())"), "", "", "", "", "",
                             ReportDocument.Cell(Format.number(hours)), ReportDocument.Cell(Format.pounds(cost)),
                             ReportDocument.Cell("\(pupils)"), "", ""])))
            areaRows.append([ReportDocument.Cell(Vocabulary.areaOfNeed(area.isEmpty ? nil : area)),
                             ReportDocument.Cell("\(group.count)"), ReportDocument.Cell("\(pupils)"),
                             ReportDocument.Cell(Format.number(hours)), ReportDocument.Cell(Format.pounds(cost))])
            areasJSON.append(.object([
                "area_of_need": area.isEmpty ? .null : .string(area), "provisions": .array(provisionsJSON),
                "hours": .number(hours, places: 2), "cost": .number(cost, places: 2), "pupils": .number(Double(pupils)),
            ]))
        }
        let allPupils = Set(enrolments.map(\.upn)).count
        document.sections.insert(ReportDocument.Section(
            heading: "Totals by area of need",
            table: ReportDocument.Table(
                columns: ["Area of need", "Provisions", "Pupils", "Hours", "Whole-term cost"], numeric: [1, 2, 3, 4], rows: areaRows,
                totals: ["All areas", ReportDocument.Cell("\(provisions.count)"), ReportDocument.Cell("\(allPupils)"),
                         ReportDocument.Cell(Format.number(provisions.map(\.termHours).reduce(0, +))),
                         ReportDocument.Cell(Format.pounds(termCost))])), at: 0)
        if provisions.isEmpty {
            document.sections.append(ReportDocument.Section(heading: "Provision", paragraphs: ["No provision overlaps this term."]))
        }
        document.footnotes = footnotes(run: run)

        let json = JSONValue.object([
            "report": .string("provision-map"), "school_urn": .string(school.urn), "school": .string(school.name),
            "term": .string(data.term.description), "evaluated_as_of": .text(run?.asOf),
            "summary": .object([
                "on_roll": .number(Double(summary.onRoll)), "sen_support": .number(Double(summary.senSupport)),
                "ehcp": .number(Double(summary.ehcp)), "receiving_provision": .number(Double(summary.receivingProvision)),
                "provisions": .number(Double(provisions.count)), "pupils_in_provision": .number(Double(allPupils)),
                "term_cost": .number(termCost, places: 2), "notional_sen_budget": .number(budget, places: 2),
            ]),
            "areas": .array(areasJSON),
        ])
        return Report(
            kind: .provisionMap, document: document,
            csvColumns: [
                "school_urn", "area_of_need", "wave", "provision_id", "provision", "priority", "staff", "delivery", "group_size",
                "sessions_per_week", "minutes_per_session", "term_hours", "term_cost", "verdict", "upn", "pupil", "year_group",
                "start_date", "end_date", "entry", "exit", "gain", "progress_made",
            ],
            csvRows: csvRows, json: json)
    }

    static func delivery(_ provision: ReportData.Provision) -> String {
        switch (provision.delivery, provision.groupSize) {
        case ("group"?, let size?): "group of \(size)"
        case (let delivery?, _): delivery
        case (nil, let size?): "group of \(size)"
        case (nil, nil): "–"
        }
    }

    /// "3 × 30 min a week, 2026-09-22 to 2026-12-19": how often, how long, and for how long.
    static func frequency(_ provision: ReportData.Provision) -> String {
        var text = "–"
        if let sessions = provision.sessionsPerWeek {
            let count = sessions.rounded() == sessions ? String(Int(sessions)) : Format.number(sessions)
            text = "\(count) × \(provision.minutesPerSession.map { "\($0) min" } ?? "?") a week"
        }
        switch (provision.startDate, provision.endDate) {
        case (let start?, let end?): text += ", \(start) to \(end)"
        case (let start?, nil): text += ", from \(start)"
        default: break
        }
        return text
    }

    static func pupilJSON(_ enrolment: ReportData.Enrolment) -> JSONValue {
        .object([
            "upn": .string(enrolment.upn), "name": .string(enrolment.pupilName), "year_group": .text(enrolment.yearGroup),
            "start_date": .string(enrolment.startDate), "end_date": .text(enrolment.endDate), "status": .text(enrolment.status),
            "measure": .text(enrolment.measure), "entry": .number(enrolment.entry), "exit": .number(enrolment.exit),
            "gain": .number(enrolment.gain), "ratio_gain": .number(enrolment.ratioGain),
            "progress_made": enrolment.progressMade.map(JSONValue.bool) ?? .null,
            "accelerated": enrolment.accelerated.map(JSONValue.bool) ?? .null,
            "gap_narrowed": enrolment.gapNarrowed.map(JSONValue.bool) ?? .null,
        ])
    }

    static func footnotes(run: (id: Int64, asOf: String)?) -> [String] {
        [
            run.map { "Impact from evaluation run \($0.id), as of \($0.asOf)." } ?? "No evaluation has run yet: impact is not shown.",
            "Hours and cost count the weeks of each provision inside the term (whole-term cost); one-to-one time is counted for each pupil receiving it; staff time at the provision's hourly cost (else its staff's average), plus resources in the term the provision started. A provision with no hourly or resource cost says 'cost not recorded'.",
            "Year groups are those pupils were in during the term. [PLANNED] and [WITHDRAWN] mark places not being delivered.",
            "Contains personal data about children: keep it within the school and the trust.",
        ]
    }
}

/// The school-level counts every report shows.
struct SchoolSummary {
    var onRoll = 0
    var senSupport = 0
    var ehcp = 0
    /// Pupils on SEN support or with an EHCP who are in a provision overlapping the term.
    var receivingProvision = 0
    /// Pupils on roll with a current support plan (their own, or a target in a group plan).
    var withPlan = 0
    /// Plans whose current version is due for review in the term.
    var reviewsDue = 0
    /// Plans whose current version's review date has passed.
    var reviewsOverdue = 0

    static func read(_ data: ReportData, school: ReportData.School) async throws -> SchoolSummary {
        guard let row = try await data.db.query(
            """
            SELECT count(*) FILTER (WHERE p.on_roll) AS on_roll,
                   count(*) FILTER (WHERE p.on_roll AND p.sen_provision = 'K') AS sen_support,
                   count(*) FILTER (WHERE p.on_roll AND p.sen_provision = 'E') AS ehcp,
                   count(*) FILTER (WHERE p.on_roll AND p.sen_provision IN ('K', 'E') AND EXISTS (
                       SELECT 1 FROM enrolments e JOIN provisions pr ON pr.id = e.provision_id
                        WHERE e.pupil_id = p.id AND e.start_date <= $3::date
                          AND coalesce(e.end_date, $3::date) >= $2::date)) AS receiving
              FROM pupils p WHERE p.school_id = $1
            """, school.id, data.term.start.iso, data.term.end.iso
        ).singleRow() else { return SchoolSummary() }
        // A plan's current version is its latest: a review makes the next one in the same
        // transaction, so the latest is never one that has been reviewed.
        guard let plans = try await data.db.query(
            """
            WITH current_version AS (
                SELECT DISTINCT ON (v.plan_id) v.id, v.next_review, sp.pupil_id
                  FROM plan_versions v JOIN support_plans sp ON sp.id = v.plan_id
                 WHERE sp.school_id = $1 ORDER BY v.plan_id, v.version DESC)
            SELECT (SELECT count(*) FROM pupils p WHERE p.school_id = $1 AND p.on_roll AND (
                        EXISTS (SELECT 1 FROM current_version c WHERE c.pupil_id = p.id)
                        OR EXISTS (SELECT 1 FROM current_version c JOIN plan_targets t ON t.plan_version_id = c.id WHERE t.pupil_id = p.id)))::int
                       AS with_plan,
                   (SELECT count(*) FROM current_version WHERE next_review BETWEEN $2::date AND $3::date)::int AS due,
                   (SELECT count(*) FROM current_version WHERE next_review < current_date)::int AS overdue
            """, school.id, data.term.start.iso, data.term.end.iso
        ).singleRow() else { return SchoolSummary() }
        return SchoolSummary(
            onRoll: try row.decode("on_roll"), senSupport: try row.decode("sen_support"), ehcp: try row.decode("ehcp"),
            receivingProvision: try row.decode("receiving"), withPlan: try plans.decode("with_plan"), reviewsDue: try plans.decode("due"),
            reviewsOverdue: try plans.decode("overdue"))
    }
}
