import Foundation
import ProvisionModel

/// A plan as read back: every version, every review and every share, oldest first.
public struct Plan: Sendable {
    /// The plan's id (the same across its versions).
    public let id: Int64
    /// Its school.
    public let schoolURN: String
    /// What kind of plan.
    public let kind: PlanKind
    /// The pupil of an individual plan.
    public let pupil: (upn: String, name: String)?
    /// The intervention of a group plan: its provision id and name.
    public let provision: (id: String, name: String)?
    /// Every version, oldest first; the last is current.
    public let versions: [Version]
    /// Every review, oldest first.
    public let reviews: [Review]
    /// When versions were shared with parents.
    public let shares: [Share]

    /// The version in force.
    public var current: Version? { versions.last }

    /// Whom the plan is about, in words.
    public var title: String {
        if let pupil { return "\(kind.title): \(pupil.name)" }
        return "\(kind.title): \(provision?.name ?? "")"
    }

    /// One version of the plan.
    public struct Version: Sendable {
        /// The row id.
        public let id: Int64
        /// 1, 2, 3 …
        public let number: Int
        /// The pupil's strengths.
        public let strengths: String
        /// The pupil's needs.
        public let needs: String
        /// Strategies for class teachers.
        public let strategies: String
        /// Who is involved.
        public let people: String
        /// When it is due for review.
        public let nextReview: SchoolDate
        /// When it was made, and by whom.
        public let createdAt: Date
        /// Who made it.
        public let createdBy: String
        /// The review that made it (nil for the first version).
        public let fromReviewID: Int64?
        /// Its targets, in order, with progress filled in from assessments.
        public let targets: [Target]
        /// The provisions that serve it: id and name.
        public let provisions: [(id: String, name: String)]
    }

    /// A target of a version.
    public struct Target: Sendable {
        /// The row id.
        public let id: Int64
        /// Whose target.
        public let upn: String
        /// The pupil's name.
        public let pupilName: String
        /// What the pupil will be able to do.
        public let description: String
        /// By when.
        public let byDate: SchoolDate
        /// How it is measured, in words.
        public let measuredBy: String
        /// The linked test, if any: instrument, subject, measure.
        public let instrument: String?
        /// The linked test's subject.
        public let subject: String?
        /// The linked test's measure.
        public let measure: String?
        /// The value that meets it.
        public let targetValue: Double?
        /// What the linked test's results say, when it has one and there are results.
        public let progress: Progress?
    }

    /// A linked target's progress from imported assessments.
    public struct Progress: Sendable, Equatable {
        /// The last result before the version was made (where the pupil started).
        public let baseline: Double?
        /// The latest result.
        public let latest: Double
        /// When it was assessed.
        public let on: SchoolDate
        /// Whether the latest result reaches the target value.
        public let met: Bool

        /// Progress with every figure given.
        public init(baseline: Double?, latest: Double, on: SchoolDate, met: Bool) {
            self.baseline = baseline
            self.latest = latest
            self.on = on
            self.met = met
        }
    }

    /// A review meeting.
    public struct Review: Sendable {
        /// The row id.
        public let id: Int64
        /// The version it reviewed.
        public let versionID: Int64
        /// The meeting's day.
        public let heldOn: SchoolDate
        /// Who came.
        public let attendees: String
        /// The pupil's views.
        public let pupilVoice: String
        /// The parents' views.
        public let parentVoice: String
        /// What was agreed.
        public let summary: String
        /// Who recorded it.
        public let createdBy: String
        /// Each target's rating: target id, rating, evidence.
        public let ratings: [(targetID: Int64, rating: Rating, evidence: String)]
        /// Each provision's decision: provision id, name, decision, the evaluation's verdict then, note.
        public let decisions: [(provisionID: String, name: String, decision: Decision, verdict: String?, note: String)]
    }

    /// A record that a version was shared with the pupil's parents.
    public struct Share: Sendable {
        /// The version shared.
        public let versionID: Int64
        /// When.
        public let sharedOn: SchoolDate
        /// How (a meeting, a letter, an email).
        public let how: String
        /// Who recorded it.
        public let recordedBy: String
    }
}
