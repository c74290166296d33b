import Foundation
import ProvisionModel
import ProvisionPlans

/// The cycle's documents people read (issue 18), as printable A4 HTML: a plan and a
/// review summary for a pupil and their parents, in plain words with no statistics, and a
/// one-page pupil passport for class teachers. A group plan's documents show one pupil's
/// part only: no parent reads about another child.
public enum PlanDocuments {
    /// What a passport says about the pupil beyond their plan.
    public struct PupilFacts: Sendable {
        /// The pupil's first name.
        public var forename: String
        /// Their full name.
        public var name: String
        /// Their year group.
        public var yearGroup: String?
        /// "SEN support" or "EHC plan".
        public var senStatus: String
        /// Their needs' codes, in order.
        public var needs: [String]
        /// The school's name.
        public var school: String
        /// The provisions they are in now.
        public var provisions: [String]

        /// Facts with every field given.
        public init(forename: String, name: String, yearGroup: String?, senStatus: String, needs: [String], school: String, provisions: [String]) {
            self.forename = forename
            self.name = name
            self.yearGroup = yearGroup
            self.senStatus = senStatus
            self.needs = needs
            self.school = school
            self.provisions = provisions
        }
    }

    /// The plan's current version for `upn` (the plan's pupil, or one pupil of a group plan)
    /// and their parents. Nil when the pupil has no part in it.
    public static func plan(_ plan: Plan, for upn: String, forename: String, school: String) -> String? {
        guard let version = plan.current else { return nil }
        let targets = version.targets.filter { $0.upn == upn }
        guard !targets.isEmpty else { return nil }
        var document = ReportDocument(title: "\(forename)'s support plan", subtitle: "\(school) · written \(Format.longDate(day(version.createdAt)))")
        document.portrait = true
        var sections: [ReportDocument.Section] = []
        if plan.kind != .group {
            if !version.strengths.isEmpty { sections.append(.init(heading: "What \(forename) is good at", paragraphs: [version.strengths])) }
            if !version.needs.isEmpty { sections.append(.init(heading: "What \(forename) finds hard", paragraphs: [version.needs])) }
        }
        sections.append(.init(
            heading: "What we are working towards",
            paragraphs: targets.map { target in
                var text = "\(target.description), by \(Format.longDate(target.byDate))."
                if !target.measuredBy.isEmpty { text += " How we will know: \(target.measuredBy)." }
                if let progress = target.progress, let goal = target.targetValue {
                    text += " The latest \(target.subject ?? "") check, on \(Format.longDate(progress.on)), gave \(number(progress.latest)); the aim is \(number(goal))"
                    text += progress.met ? ", so this has been reached." : "."
                }
                return text
            }))
        var help = version.provisions.map { "\($0.name)." }
        if !version.strategies.isEmpty && plan.kind != .group { help.append("In class: \(version.strategies)") }
        if !help.isEmpty { sections.append(.init(heading: "How we are helping", paragraphs: help)) }
        if !version.people.isEmpty && plan.kind != .group { sections.append(.init(heading: "Who is helping", paragraphs: [version.people])) }
        sections.append(.init(
            heading: "When we will next talk about it",
            paragraphs: ["We will look at this plan together again by \(Format.longDate(version.nextReview)). Please tell us before then if anything changes at home or you have questions."]))
        document.sections = sections
        return HTMLRenderer.render(document)
    }

    /// A review meeting, for `upn` and their parents: how each target went, what the pupil
    /// and the parents said, what was decided and what happens next. Nil for an unknown
    /// review or a pupil with no part in it.
    public static func review(_ plan: Plan, review reviewID: Int64, for upn: String, forename: String, school: String) -> String? {
        guard let review = plan.reviews.first(where: { $0.id == reviewID }),
            let reviewed = plan.versions.first(where: { $0.id == review.versionID })
        else { return nil }
        let targets = reviewed.targets.filter { $0.upn == upn }
        guard !targets.isEmpty else { return nil }
        var document = ReportDocument(title: "How \(forename)'s plan went", subtitle: "\(school) · review meeting on \(Format.longDate(review.heldOn))")
        document.portrait = true
        var sections: [ReportDocument.Section] = [.init(heading: "Who came", paragraphs: [review.attendees])]
        let ratings = Dictionary(uniqueKeysWithValues: review.ratings.map { ($0.targetID, $0) })
        sections.append(.init(
            heading: "How each target went",
            paragraphs: targets.map { target in
                guard let rating = ratings[target.id] else { return "\(target.description): not talked about." }
                let evidence = rating.evidence.isEmpty ? "" : " (\(rating.evidence))"
                return "\(target.description): \(rating.rating.words)\(evidence)."
            }))
        if plan.kind != .group {
            if !review.pupilVoice.isEmpty { sections.append(.init(heading: "What \(forename) told us", paragraphs: [review.pupilVoice])) }
            if !review.parentVoice.isEmpty { sections.append(.init(heading: "What you told us", paragraphs: [review.parentVoice])) }
        }
        var decided = review.decisions.map { decision in
            let word = ["continue": "will carry on", "change": "will change", "stop": "will stop"][decision.decision.rawValue] ?? ""
            return "\(decision.name) \(word)" + (decision.note.isEmpty ? "." : ": \(decision.note).")
        }
        if !review.summary.isEmpty && plan.kind != .group { decided.insert(review.summary, at: 0) }
        if !decided.isEmpty { sections.append(.init(heading: "What we decided", paragraphs: decided)) }
        if let next = plan.versions.first(where: { $0.fromReviewID == review.id }) {
            let nextTargets = next.targets.filter { $0.upn == upn }.map { "\($0.description), by \(Format.longDate($0.byDate))." }
            sections.append(.init(
                heading: "What happens next",
                paragraphs: nextTargets + ["We will meet again by \(Format.longDate(next.nextReview))."]))
        }
        document.sections = sections
        return HTMLRenderer.render(document)
    }

    /// One page for the pupil's class teachers: who they are, what they need, how to help,
    /// what they are working towards and the extra help they have.
    public static func passport(_ pupil: PupilFacts, plan: Plan?, upn: String) -> String {
        var document = ReportDocument(title: "Pupil passport: \(pupil.name)", subtitle: pupil.school)
        document.portrait = true
        document.facts = [
            ("year group", pupil.yearGroup ?? "–"), ("SEN status", pupil.senStatus),
            ("needs", pupil.needs.isEmpty ? "none recorded" : pupil.needs.map(Vocabulary.need).joined(separator: "; ")),
        ]
        var sections: [ReportDocument.Section] = []
        if let version = plan?.current, plan?.kind != .group {
            if !version.strengths.isEmpty { sections.append(.init(heading: "What I am good at", paragraphs: [version.strengths])) }
            if !version.needs.isEmpty { sections.append(.init(heading: "What I find hard", paragraphs: [version.needs])) }
            if !version.strategies.isEmpty { sections.append(.init(heading: "How to help me in class", paragraphs: [version.strategies])) }
        }
        if let targets = plan?.current?.targets.filter({ $0.upn == upn }), !targets.isEmpty {
            sections.append(.init(heading: "What I am working towards", paragraphs: targets.map { "\($0.description) (by \(Format.longDate($0.byDate)))." }))
        }
        sections.append(.init(
            heading: "Extra help I have",
            paragraphs: pupil.provisions.isEmpty ? ["None at the moment."] : pupil.provisions.map { "\($0)." }))
        document.sections = sections
        return HTMLRenderer.render(document)
    }

    /// The UTC day of `date`.
    static func day(_ date: Date) -> SchoolDate {
        SchoolDate(daysSince1970: Int((date.timeIntervalSince1970 / 86_400).rounded(.down)))
    }

    static func number(_ value: Double) -> String {
        value.rounded() == value ? String(Int(value)) : String(format: "%.1f", value)
    }
}
