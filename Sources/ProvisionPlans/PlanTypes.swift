import Foundation
import ProvisionModel

/// What kind of plan: a pupil's SEN support plan (an IEP), the outcomes of a pupil's EHC
/// plan, or one plan for an intervention group with a target for each pupil in it (the
/// guidance's "provision mapping reduces the number of learning plans").
public enum PlanKind: String, Sendable, CaseIterable, Codable {
    case senSupport = "sen_support"
    case ehcp
    case group

    /// How a person says it.
    public var title: String {
        switch self {
        case .senSupport: "SEN support plan"
        case .ehcp: "EHC plan outcomes"
        case .group: "Group plan"
        }
    }
}

/// How far a target has come, as a review rates it.
public enum Rating: String, Sendable, CaseIterable, Codable {
    case notYet = "not_yet"
    case partly
    case achieved

    /// In plain words.
    public var words: String {
        switch self {
        case .notYet: "not yet"
        case .partly: "partly"
        case .achieved: "achieved"
        }
    }
}

/// What a review decides about a provision that serves the plan.
public enum Decision: String, Sendable, CaseIterable, Codable {
    case `continue`, change, stop
}

/// A target as it is written into a plan.
public struct TargetInput: Sendable, Equatable {
    /// Whose target: required in a group plan, the plan's pupil otherwise.
    public var upn: String?
    /// What the pupil will be able to do, in words a parent understands.
    public var description: String
    /// By when.
    public var byDate: SchoolDate
    /// How it will be measured, in words ("reads 20 of the first 100 words").
    public var measuredBy: String
    /// Optionally, a test whose results fill in progress: its instrument, subject and
    /// measure, and the value that means the target is met.
    public var instrument: String?
    /// The test's subject ("reading").
    public var subject: String?
    /// The test's measure (`age_months`, `standardised`, `scaled`, `raw`, `steps`).
    public var measure: String?
    /// The value that meets the target.
    public var targetValue: Double?

    /// A target with every field given.
    public init(
        upn: String? = nil, description: String, byDate: SchoolDate, measuredBy: String = "", instrument: String? = nil,
        subject: String? = nil, measure: String? = nil, targetValue: Double? = nil
    ) {
        self.upn = upn
        self.description = description
        self.byDate = byDate
        self.measuredBy = measuredBy
        self.instrument = instrument
        self.subject = subject
        self.measure = measure
        self.targetValue = targetValue
    }
}

/// The content of one version of a plan.
public struct PlanInput: Sendable {
    /// The pupil's strengths, in words.
    public var strengths: String
    /// Their needs, in words.
    public var needs: String
    /// What class teachers do.
    public var strategies: String
    /// Who is involved (teacher, TA, therapist, parents).
    public var people: String
    /// When the plan is next reviewed.
    public var nextReview: SchoolDate
    /// Its targets, in order.
    public var targets: [TargetInput]
    /// The school's provisions (by their provision id) that serve it.
    public var provisionIDs: [String]

    /// A plan's content.
    public init(
        strengths: String = "", needs: String = "", strategies: String = "", people: String = "", nextReview: SchoolDate,
        targets: [TargetInput], provisionIDs: [String] = []
    ) {
        self.strengths = strengths
        self.needs = needs
        self.strategies = strategies
        self.people = people
        self.nextReview = nextReview
        self.targets = targets
        self.provisionIDs = provisionIDs
    }
}

/// What a review records.
public struct ReviewInput: Sendable {
    /// The day of the meeting.
    public var heldOn: SchoolDate
    /// Who came.
    public var attendees: String
    /// The pupil's views, in their words.
    public var pupilVoice: String
    /// The parents' views, in their words.
    public var parentVoice: String
    /// What was agreed, in a sentence or two.
    public var summary: String
    /// A rating, with its evidence, for every target of the version reviewed (by target id).
    public var ratings: [Int64: (rating: Rating, evidence: String)]
    /// A decision, with a note, for every provision of the version reviewed (by provision id).
    public var decisions: [String: (decision: Decision, note: String)]
    /// The next version of the plan.
    public var next: PlanInput

    /// A review with every field given.
    public init(
        heldOn: SchoolDate, attendees: String, pupilVoice: String = "", parentVoice: String = "", summary: String = "",
        ratings: [Int64: (rating: Rating, evidence: String)], decisions: [String: (decision: Decision, note: String)] = [:],
        next: PlanInput
    ) {
        self.heldOn = heldOn
        self.attendees = attendees
        self.pupilVoice = pupilVoice
        self.parentVoice = parentVoice
        self.summary = summary
        self.ratings = ratings
        self.decisions = decisions
        self.next = next
    }
}

/// A request about plans that cannot be met as asked: the message says what to change.
public struct PlanError: Error, Sendable, CustomStringConvertible, Equatable {
    /// What is wrong.
    public let description: String
    /// True when the plan (or what it names) does not exist, rather than being wrong.
    public let notFound: Bool

    /// An error saying `description`.
    public init(_ description: String, notFound: Bool = false) {
        self.description = description
        self.notFound = notFound
    }
}
