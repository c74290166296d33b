import Foundation
import ProvisionModel
import ProvisionPlans

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
              \(ReportData.outcomeOfEnrolment)
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
        // Support plans: every version's targets with how each review rated them, and the reviews.
        let plans = try await Plans.forPupil(data.db, upn: upn)
        var plansJSON: [JSONValue] = []
        for plan in plans {
            let ratings = Dictionary(plan.reviews.flatMap { review in review.ratings.map { ($0.targetID, ($0, review.heldOn)) } }) { first, _ in first }
            var targetRows: [[ReportDocument.Cell]] = []
            for version in plan.versions {
                for target in version.targets where target.upn == upn {
                    let rated = ratings[target.id]
                    let progress = target.progress.map { "\(Format.number($0.latest, places: 1)) on \($0.on.iso)\($0.met ? ", met" : "")" } ?? "–"
                    targetRows.append([
                        ReportDocument.Cell("v\(version.number)"), ReportDocument.Cell(target.description),
                        ReportDocument.Cell(target.byDate.iso), ReportDocument.Cell(progress),
                        ReportDocument.Cell(
                            rated.map { "\($0.0.rating.words) (\($0.1.iso))\($0.0.evidence.isEmpty ? "" : ": \($0.0.evidence)")" }
                                ?? (version.id == plan.current?.id ? "current" : "–"),
                            tone: rated.map { $0.0.rating == .achieved ? .good : $0.0.rating == .notYet ? .bad : .neutral }),
                    ])
                }
            }
            var paragraphs = ["Version \(plan.current?.number ?? 0), next review \(plan.current?.nextReview.iso ?? "–"); "
                + "\(plan.reviews.count) review(s); shared with parents \(plan.shares.last.map { "on \($0.sharedOn.iso) (\($0.how))" } ?? "not recorded")."]
            for review in plan.reviews {
                var text = "Review \(review.heldOn.iso) (\(review.attendees))."
                if !review.pupilVoice.isEmpty { text += " Pupil: “\(review.pupilVoice)”." }
                if !review.parentVoice.isEmpty { text += " Parents: “\(review.parentVoice)”." }
                let decisions = review.decisions.map { "\($0.name): \($0.decision.rawValue) (evaluation: \($0.verdict?.replacingOccurrences(of: "_", with: " ") ?? "none"))" }
                if !decisions.isEmpty { text += " Decided: " + decisions.joined(separator: "; ") + "." }
                paragraphs.append(text)
            }
            document.sections.append(ReportDocument.Section(
                heading: plan.title, paragraphs: paragraphs,
                table: ReportDocument.Table(columns: ["Version", "Target", "By", "Linked test", "Rating"], numeric: [], rows: targetRows)))
            plansJSON.append(.object([
                "plan_id": .number(Double(plan.id)), "kind": .string(plan.kind.rawValue), "version": .number(Double(plan.current?.number ?? 0)),
                "next_review": .text(plan.current?.nextReview.iso), "reviews": .number(Double(plan.reviews.count)),
            ]))
        }
        // Alerts about the pupil, with every answer given to them.
        let alerts = try await data.db.query(
            """
            SELECT a.rule, a.status, a.answer, to_char(a.opened_at, 'YYYY-MM-DD') AS opened, a.reason,
                   coalesce((SELECT string_agg(to_char(x.at, 'YYYY-MM-DD') || ' ' || x.action || ' by ' || x.by_whom
                                               || coalesce(': ' || x.note, ''), '; ' ORDER BY x.at)
                               FROM alert_actions x WHERE x.alert_id = a.id), '') AS actions
              FROM alerts a WHERE a.pupil_id = $1 ORDER BY a.opened_at DESC
            """, pupilID)
        if !alerts.rows.isEmpty {
            document.sections.append(ReportDocument.Section(
                heading: "Alerts and what was done",
                table: ReportDocument.Table(
                    columns: ["Opened", "Alert", "Status", "Reason", "Answers"], numeric: [],
                    rows: try alerts.rows.map { row in
                        let status = [try row.decode("status", as: String.self), try row.decode("answer", as: String?.self)]
                            .compactMap { $0 }.joined(separator: ", ")
                        let actions: String = try row.decode("actions")
                        return [
                            ReportDocument.Cell(try row.decode("opened", as: String.self)),
                            ReportDocument.Cell(Vocabulary.alerts(try row.decode("rule"), 1).drop { $0 != " " }.trimmingCharacters(in: .whitespaces)),
                            ReportDocument.Cell(status), ReportDocument.Cell(try row.decode("reason", as: String.self)),
                            ReportDocument.Cell(actions.isEmpty ? "–" : actions),
                        ]
                    })))
        }
        document.footnotes = [
            run.map { "Progress from evaluation run \($0.id), as of \($0.asOf). A ratio gain of 1 is ordinary progress; above 1 the pupil is catching up." } ?? "Not evaluated yet.",
            "Personal data about one child: share it only with those entitled to see it.",
        ]
        let json = JSONValue.object([
            "report": .string("pupil"), "upn": .string(upn), "name": .string(name), "school_urn": .string(schoolURN),
            "year_group": .text(try pupil.decode("year_group")), "sen_provision": .string(try pupil.decode("sen_provision")),
            "on_roll": .bool(try pupil.decode("on_roll")), "needs": .array(needs.split(separator: ",").map { .string($0.trimmingCharacters(in: .whitespaces)) }),
            "provisions": .array(items), "plans": .array(plansJSON),
        ])
        return Report(
            kind: .pupil, document: document,
            csvColumns: ["upn", "school_urn", "provision_id", "provision", "start_date", "end_date", "staff", "measure", "entry",
                         "exit", "gain", "ratio_gain", "progress_made"],
            csvRows: csvRows, json: json)
    }

    /// The pupil report for the family, in plain words: what was provided, how often and by
    /// whom, what changed, and what is next. No ratio gains, intervals or sample sizes.
    static func buildForParents(_ data: ReportData, upn: String) async throws -> Report {
        guard let pupil = try await data.db.query(
            """
            SELECT p.id, p.forename, p.surname, s.id AS school_id, s.name AS school FROM pupils p JOIN schools s ON s.id = p.school_id
             WHERE p.upn = $1
            """, upn
        ).singleRow() else { throw NotFound(upn: upn) }
        let forename: String = try pupil.decode("forename")
        let run = try await ReportData.evaluationRun(data.db, school: try pupil.decode("school_id", as: Int64.self))
        let rows = try await data.db.query(
            """
            SELECT \(ReportData.enrolmentColumns), pr.name AS provision, pr.delivery, pr.group_size, pr.sessions_per_week::float8 AS sessions,
                   pr.minutes_per_session AS minutes, pr.outcome_instrument AS instrument, e.target
              FROM enrolments e JOIN pupils p ON p.id = e.pupil_id JOIN provisions pr ON pr.id = e.provision_id
              \(ReportData.outcomeOfEnrolment)
             WHERE e.pupil_id = $1 AND coalesce(e.status, 'active') <> 'withdrawn'
             ORDER BY e.start_date DESC, pr.name
            """, try pupil.decode("id", as: Int64.self), run?.id)
        var document = ReportDocument(
            title: "The extra help \(forename) has at school", subtitle: try pupil.decode("school", as: String.self))
        document.portrait = true
        var sections: [ReportDocument.Section] = []
        let today = SchoolDate.today().iso
        for row in rows.rows {
            let enrolment = try ReportData.enrolment(row)
            let provision: String = try row.decode("provision")
            var paragraphs: [String] = []
            var how = try row.decode("delivery", as: String?.self) == "individual" ? "On their own with an adult" : "In a small group"
            if let size = try row.decode("group_size", as: Int?.self), size > 1, how == "In a small group" { how += " of \(size)" }
            if let sessions = try row.decode("sessions", as: Double?.self), let minutes = try row.decode("minutes", as: Int?.self) {
                let times = sessions == 1 ? "once" : sessions == 2 ? "twice" : "\(Int(sessions)) times"
                how += ", \(times) a week for \(minutes) minutes"
            }
            let until = enrolment.endDate.map { "until \(Format.longDate($0))" } ?? "with no end date yet"
            paragraphs.append("\(how), from \(Format.longDate(enrolment.startDate)) \(until).")
            if enrolment.status == "planned" {
                paragraphs.append("This is planned and has not started yet.")
            }
            if let target = try row.decode("target", as: String?.self), !target.isEmpty {
                paragraphs.append("What we are aiming for: \(target)")
            }
            let instrument = try row.decode("instrument", as: String?.self) ?? "the test"
            if let entry = enrolment.entry, let exit = enrolment.exit {
                let change: String
                switch enrolment.measure {
                case "age_months":
                    let months = Int((exit - entry).rounded())
                    change = months > 0
                        ? "\(forename)'s reading age on \(instrument) went from \(Format.score(entry, measure: "age_months")) to \(Format.score(exit, measure: "age_months")): \(months) months more."
                        : "\(forename)'s reading age on \(instrument) was \(Format.score(entry, measure: "age_months")) at the start and \(Format.score(exit, measure: "age_months")) at the end: we are looking at why it did not rise."
                case "standardised":
                    change = exit > entry
                        ? "\(forename)'s score on \(instrument) went up from \(Int(entry)) to \(Int(exit)), so \(forename) is catching up with others of the same age."
                        : exit == entry
                            ? "\(forename)'s score on \(instrument) stayed at \(Int(entry)): \(forename) kept pace with others of the same age."
                            : "\(forename)'s score on \(instrument) went from \(Int(entry)) to \(Int(exit)): we are looking at why."
                default:
                    change = "At the start: \(Format.score(entry, measure: enrolment.measure)). At the end: \(Format.score(exit, measure: enrolment.measure))."
                }
                paragraphs.append("What changed: \(change)")
            } else if let entry = enrolment.entry {
                paragraphs.append("At the start: \(Format.score(entry, measure: enrolment.measure)) on \(instrument). We will check again at the end.")
            }
            let ongoing = enrolment.endDate.map { $0 >= today } ?? true
            paragraphs.append(ongoing
                ? "What is next: this carries on; we will tell you how it has gone when it ends."
                : "What is next: we will talk with you about what comes next at \(forename)'s next review.")
            sections.append(ReportDocument.Section(heading: provision, paragraphs: paragraphs))
        }
        if sections.isEmpty {
            sections.append(ReportDocument.Section(heading: "Extra help", paragraphs: ["No extra help is recorded for \(forename) at the moment."]))
        }
        // What the pupil's current plan is working towards, in the plan's own words.
        let targets = try await Plans.forPupil(data.db, upn: upn).compactMap(\.current).flatMap { version in
            version.targets.filter { $0.upn == upn }.map { "\($0.description), by \(Format.longDate($0.byDate))." }
        }
        if !targets.isEmpty {
            sections.insert(ReportDocument.Section(heading: "What \(forename) is working towards", paragraphs: targets), at: 0)
        }
        document.sections = sections
        document.footnotes = [
            "If you have questions, please speak to the school's special educational needs co-ordinator (SENCO).",
            "This letter is about one child: please keep it private.",
        ]
        let json = JSONValue.object([
            "report": .string("pupil"), "audience": .string("parent"), "upn": .string(upn),
            "sections": .array(sections.map { .object(["heading": .string($0.heading), "paragraphs": .array($0.paragraphs.map(JSONValue.string))]) }),
        ])
        return Report(
            kind: .pupil, document: document, csvColumns: ["provision", "text"],
            csvRows: sections.map { [$0.heading, $0.paragraphs.joined(separator: " ")] }, json: json)
    }
}
