import Foundation
import Postgres
import ProvisionModel

/// Support plans and reviews (issue 18): what the console, the API and the reports call.
/// Every change is one transaction and only adds rows: a plan's versions, targets, reviews
/// and shares are never changed (the schema refuses it), so the history of the cycle is
/// always there to read.
public enum Plans {
    static let longText = 5000

    /// Starts a plan: its first version.
    ///
    /// - Parameters:
    ///   - pupil: the pupil of a `sen_support` or `ehcp` plan.
    ///   - provision: the provision id of a `group` plan; its targets each name a pupil
    ///     enrolled in it.
    ///   - by: the address of the person writing it.
    /// - Returns: the plan's id.
    /// - Throws: ``PlanError`` saying what is wrong; nothing is written then.
    @discardableResult
    public static func create(
        _ db: PostgresConnection, school urn: String, kind: PlanKind, pupil upn: String? = nil, provision: String? = nil,
        _ input: PlanInput, by: String, today: SchoolDate = SchoolDate.today(),
        within: @Sendable (isolated PostgresConnection, Int64) throws -> Void = { _, _ in }
    ) async throws -> Int64 {
        guard (kind == .group) == (provision != nil), (kind == .group) == (upn == nil) else {
            throw PlanError(kind == .group ? "a group plan is for a provision, not a pupil" : "a \(kind.title) is for one pupil (give their UPN)")
        }
        try check(input, after: today, by: by)
        return try await db.transaction { db in
            guard let school = try db.query("SELECT id FROM schools WHERE urn = $1", urn).singleRow() else {
                throw PlanError("school \(urn) has no data yet", notFound: true)
            }
            let schoolID: Int64 = try school.decode("id")
            var pupilID: Int64?
            var provisionRowID: Int64?
            if let upn {
                pupilID = try pupil(db, upn: upn, school: schoolID)
            }
            if let provision {
                guard let row = try db.query(
                    "SELECT id FROM provisions WHERE school_id = $1 AND provision_id = $2", schoolID, provision
                ).singleRow() else { throw PlanError("there is no provision \(provision) at school \(urn)", notFound: true) }
                provisionRowID = try row.decode("id")
            }
            let planID = try db.query(
                """
                INSERT INTO support_plans (school_id, kind, pupil_id, provision_id, created_by)
                VALUES ($1, $2, $3, $4, $5) RETURNING id
                """, schoolID, kind.rawValue, pupilID, provisionRowID, by
            ).scalar(as: Int64.self)
            try insertVersion(
                db, plan: planID, number: 1, input, fromReview: nil, by: by, school: schoolID, pupil: pupilID, group: provisionRowID)
            try within(db, planID)
            return planID
        }
    }

    /// Holds a review of the plan's current version: rates every target, records the
    /// pupil's and parents' voice and a decision on every provision (with the evaluation's
    /// verdict at the time beside it), and makes the next version from `input.next`.
    ///
    /// - Returns: the review's id and the new version's number.
    /// - Throws: ``PlanError`` when a target is not rated, a provision has no decision, the
    ///   dates do not fit, or the version was reviewed already; nothing is written then.
    @discardableResult
    public static func holdReview(
        _ db: PostgresConnection, plan planID: Int64, _ input: ReviewInput, by: String, today: SchoolDate = SchoolDate.today(),
        within: @Sendable (isolated PostgresConnection, Int64) throws -> Void = { _, _ in }
    ) async throws -> (review: Int64, version: Int) {
        let attendees = input.attendees.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !attendees.isEmpty else { throw PlanError("say who came to the review (attendees)") }
        guard input.heldOn <= today else { throw PlanError("a review is recorded once it has been held: held_on \(input.heldOn.iso) is after today") }
        let written = [("attendees", attendees), ("pupil_voice", input.pupilVoice), ("parent_voice", input.parentVoice), ("summary", input.summary)]
            + input.ratings.values.map { ("a target's evidence", $0.evidence) } + input.decisions.values.map { ("a provision's note", $0.note) }
        try checkText(written)
        try check(input.next, after: input.heldOn, by: by)
        return try await db.transaction { db in
            guard let plan = try db.query(
                "SELECT school_id, pupil_id, provision_id FROM support_plans WHERE id = $1 FOR UPDATE", planID
            ).singleRow() else { throw PlanError("there is no plan \(planID)", notFound: true) }
            guard let current = try db.query(
                """
                SELECT v.id, v.version, EXISTS (SELECT 1 FROM plan_reviews r WHERE r.plan_version_id = v.id) AS reviewed
                  FROM plan_versions v WHERE v.plan_id = $1 ORDER BY v.version DESC LIMIT 1
                """, planID
            ).singleRow() else { throw PlanError("plan \(planID) has no version", notFound: true) }
            let versionID: Int64 = try current.decode("id")
            let number: Int = try current.decode("version")
            guard try !current.decode("reviewed", as: Bool.self) else {
                throw PlanError("version \(number) of plan \(planID) has been reviewed already")
            }
            let targets = Set(try db.query("SELECT id FROM plan_targets WHERE plan_version_id = $1", versionID).rows.map {
                try $0.decode("id", as: Int64.self)
            })
            let rated = Set(input.ratings.keys)
            guard rated == targets else {
                let missing = targets.subtracting(rated).sorted().map(String.init)
                let strange = rated.subtracting(targets).sorted().map(String.init)
                throw PlanError(
                    missing.isEmpty
                        ? "targets \(strange.joined(separator: ", ")) are not targets of version \(number)"
                        : "rate every target of version \(number): \(missing.joined(separator: ", ")) not rated")
            }
            let provisions = try db.query(
                """
                SELECT pr.id, pr.provision_id FROM plan_provisions pp JOIN provisions pr ON pr.id = pp.provision_id
                 WHERE pp.plan_version_id = $1
                """, versionID
            ).rows.map { (try $0.decode("id", as: Int64.self), try $0.decode("provision_id", as: String.self)) }
            let decided = Set(input.decisions.keys)
            guard decided == Set(provisions.map(\.1)) else {
                let missing = Set(provisions.map(\.1)).subtracting(decided).sorted()
                throw PlanError(
                    missing.isEmpty
                        ? "decisions name provisions that do not serve this plan: \(decided.subtracting(provisions.map(\.1)).sorted().joined(separator: ", "))"
                        : "decide on every provision that serves the plan (continue, change or stop): \(missing.joined(separator: ", "))")
            }
            let reviewID = try db.query(
                """
                INSERT INTO plan_reviews (plan_version_id, held_on, attendees, pupil_voice, parent_voice, summary, created_by)
                VALUES ($1, $2::date, $3, $4, $5, $6, $7) RETURNING id
                """, versionID, input.heldOn.iso, attendees, input.pupilVoice, input.parentVoice, input.summary, by
            ).scalar(as: Int64.self)
            for (target, rating) in input.ratings {
                try db.execute(
                    "INSERT INTO review_ratings (review_id, target_id, rating, evidence) VALUES ($1, $2, $3, $4)",
                    reviewID, target, rating.rating.rawValue, rating.evidence)
            }
            for (rowID, provisionID) in provisions {
                guard let decision = input.decisions[provisionID] else { continue }
                // The evaluation's verdict as the meeting saw it, kept beside the decision.
                try db.execute(
                    """
                    INSERT INTO review_decisions (review_id, provision_id, decision, verdict, note)
                    VALUES ($1, $2, $3, (SELECT o.verdict FROM provision_outcomes o JOIN evaluation_runs r ON r.id = o.evaluation_run_id
                                          WHERE o.provision_id = $2 AND r.status = 'succeeded'
                                          ORDER BY o.evaluation_run_id DESC LIMIT 1), $4)
                    """, reviewID, rowID, decision.decision.rawValue, decision.note)
            }
            try insertVersion(
                db, plan: planID, number: number + 1, input.next, fromReview: reviewID, by: by,
                school: try plan.decode("school_id"), pupil: try plan.decode("pupil_id"), group: try plan.decode("provision_id"))
            try within(db, reviewID)
            return (reviewID, number + 1)
        }
    }

    /// Adds targets between reviews: the next version is the current one with `targets`
    /// after its own (the current version is kept as it was). Returns the new version's number.
    @discardableResult
    public static func addTargets(
        _ db: PostgresConnection, plan planID: Int64, _ targets: [TargetInput], by: String, today: SchoolDate = SchoolDate.today(),
        within: @Sendable (isolated PostgresConnection) throws -> Void = { _ in }
    ) async throws -> Int {
        guard !targets.isEmpty else { throw PlanError("give at least one target to add") }
        guard let plan = try await read(db, plan: planID), let current = plan.current else {
            throw PlanError("there is no plan \(planID)", notFound: true)
        }
        let kept = current.targets.map { target in
            TargetInput(
                upn: target.upn, description: target.description, byDate: target.byDate, measuredBy: target.measuredBy,
                instrument: target.instrument, subject: target.subject, measure: target.measure, targetValue: target.targetValue)
        }
        let input = PlanInput(
            strengths: current.strengths, needs: current.needs, strategies: current.strategies, people: current.people,
            nextReview: current.nextReview, targets: kept + targets, provisionIDs: current.provisions.map(\.id))
        // The new targets must be due after today; the kept ones keep their dates.
        try check(PlanInput(nextReview: max(current.nextReview, SchoolDate(daysSince1970: today.daysSince1970 + 1)), targets: targets), after: today, by: by)
        return try await db.transaction { db in
            guard let row = try db.query(
                "SELECT school_id, pupil_id, provision_id FROM support_plans WHERE id = $1 FOR UPDATE", planID
            ).singleRow() else { throw PlanError("there is no plan \(planID)", notFound: true) }
            let latest = try db.query("SELECT max(version) AS v FROM plan_versions WHERE plan_id = $1", planID).scalar(as: Int.self)
            guard latest == current.number else { throw PlanError("plan \(planID) changed while the targets were added; try again") }
            try insertVersion(
                db, plan: planID, number: latest + 1, input, fromReview: nil, by: by,
                school: try row.decode("school_id"), pupil: try row.decode("pupil_id"), group: try row.decode("provision_id"))
            try within(db)
            return latest + 1
        }
    }

    /// Records that the plan's current version (or `version`) was shared with the pupil's
    /// parents: when and how. The "parents not informed" alert reads these.
    public static func recordShare(
        _ db: PostgresConnection, plan planID: Int64, version: Int? = nil, on day: SchoolDate, how: String, by: String,
        today: SchoolDate = SchoolDate.today(), within: @Sendable (isolated PostgresConnection) throws -> Void = { _ in }
    ) async throws {
        let how = how.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !how.isEmpty, how.count <= 200 else { throw PlanError("say how it was shared (a meeting, a letter home, an email): 1–200 characters") }
        try checkText([("how it was shared", how)])
        guard day <= today else { throw PlanError("shared_on \(day.iso) is after today") }
        try await db.transaction { db in
            guard let row = try db.query(
                """
                SELECT id FROM plan_versions WHERE plan_id = $1 AND ($2::int IS NULL OR version = $2::int)
                 ORDER BY version DESC LIMIT 1
                """, planID, version
            ).singleRow() else { throw PlanError("there is no plan \(planID)\(version.map { " version \($0)" } ?? "")", notFound: true) }
            try db.execute(
                "INSERT INTO plan_shares (plan_version_id, shared_on, how, recorded_by) VALUES ($1, $2::date, $3, $4)",
                try row.decode("id", as: Int64.self), day.iso, how, by)
            try within(db)
        }
    }

    /// The school a plan belongs to, for access checks; nil for an unknown plan.
    public static func school(_ db: PostgresConnection, plan planID: Int64) async throws -> String? {
        try await db.query("SELECT s.urn FROM support_plans p JOIN schools s ON s.id = p.school_id WHERE p.id = $1", planID)
            .singleRow().map { try $0.decode("urn") }
    }

    /// The plans about a pupil: their own, and group plans with a target for them.
    public static func forPupil(_ db: PostgresConnection, upn: String) async throws -> [Plan] {
        let ids = try await db.query(
            """
            SELECT DISTINCT sp.id FROM support_plans sp JOIN pupils p ON p.upn = $1
             WHERE sp.pupil_id = p.id
                OR EXISTS (SELECT 1 FROM plan_versions v JOIN plan_targets t ON t.plan_version_id = v.id
                            WHERE v.plan_id = sp.id AND t.pupil_id = p.id)
             ORDER BY sp.id
            """, upn
        ).rows.map { try $0.decode("id", as: Int64.self) }
        var plans: [Plan] = []
        for id in ids { if let plan = try await read(db, plan: id) { plans.append(plan) } }
        return plans
    }

    // MARK: - Checks and writing

    static func check(_ input: PlanInput, after day: SchoolDate, by: String) throws(PlanError) {
        guard by.contains("@"), by.count <= 200 else { throw PlanError("the author must be an email address") }
        try checkText(
            [("strengths", input.strengths), ("needs", input.needs), ("strategies", input.strategies), ("people", input.people)]
                + input.targets.enumerated().flatMap { index, target in
                    [("target \(index + 1)", target.description), ("target \(index + 1)'s measured by", target.measuredBy)]
                })
        guard input.nextReview > day else {
            throw PlanError("the next review (\(input.nextReview.iso)) must be after \(day.iso)")
        }
        guard !input.targets.isEmpty else { throw PlanError("a plan needs at least one target") }
        for (index, target) in input.targets.enumerated() {
            let which = "target \(index + 1)"
            let words = target.description.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !words.isEmpty, words.count <= 1000 else { throw PlanError("\(which) needs a description (1–1,000 characters)") }
            guard target.byDate > day else { throw PlanError("\(which) is due on \(target.byDate.iso), which is not after \(day.iso)") }
            let linked = [target.instrument == nil, target.measure == nil, target.targetValue == nil]
            guard Set(linked).count == 1 else {
                throw PlanError("\(which): a linked test needs its instrument, measure and target value together")
            }
            if let measure = target.measure, !Codes.measures.contains(measure) {
                throw PlanError("\(which): measure must be one of \(Codes.measures.sorted().joined(separator: ", ")), got '\(measure)'")
            }
            if let value = target.targetValue, !value.isFinite { throw PlanError("\(which): the target value must be a number") }
        }
    }

    /// Free text as people write it: at most ``longText`` characters, over several lines if
    /// they like, and none of the characters an import refuses (``HiddenCharacters``).
    static func checkText(_ texts: [(name: String, text: String)]) throws(PlanError) {
        for (name, text) in texts {
            if text.count > longText { throw PlanError("\(name) is longer than \(longText) characters") }
            if let problem = HiddenCharacters.problem(in: text, lineBreaks: true) { throw PlanError("\(name) \(problem)") }
        }
    }

    static func pupil(_ db: isolated PostgresConnection, upn: String, school: Int64) throws -> Int64 {
        guard let row = try db.query("SELECT id, school_id FROM pupils WHERE upn = $1", upn).singleRow() else {
            throw PlanError("there is no pupil \(upn)", notFound: true)
        }
        guard try row.decode("school_id", as: Int64.self) == school else {
            throw PlanError("pupil \(upn) is not at this school")
        }
        return try row.decode("id")
    }

    static func insertVersion(
        _ db: isolated PostgresConnection, plan planID: Int64, number: Int, _ input: PlanInput, fromReview: Int64?, by: String,
        school: Int64, pupil planPupil: Int64?, group: Int64?
    ) throws {
        let versionID = try db.query(
            """
            INSERT INTO plan_versions (plan_id, version, strengths, needs, strategies, people, next_review, from_review_id, created_by)
            VALUES ($1, $2, $3, $4, $5, $6, $7::date, $8, $9) RETURNING id
            """, planID, number, input.strengths, input.needs, input.strategies, input.people, input.nextReview.iso, fromReview, by
        ).scalar(as: Int64.self)
        for (index, target) in input.targets.enumerated() {
            var pupilID: Int64
            if let planPupil {
                if let upn = target.upn, try pupil(db, upn: upn, school: school) != planPupil {
                    throw PlanError("target \(index + 1) names \(upn), who is not this plan's pupil")
                }
                pupilID = planPupil
            } else {
                guard let upn = target.upn else { throw PlanError("target \(index + 1): a group plan's targets each name a pupil (UPN)") }
                pupilID = try pupil(db, upn: upn, school: school)
                guard try !db.query("SELECT 1 FROM enrolments WHERE provision_id = $1 AND pupil_id = $2", group, pupilID).rows.isEmpty else {
                    throw PlanError("target \(index + 1): \(upn) is not in this group's provision")
                }
            }
            try db.execute(
                """
                INSERT INTO plan_targets (plan_version_id, position, pupil_id, description, by_date, measured_by, instrument,
                                          subject, measure, target_value)
                VALUES ($1, $2, $3, $4, $5::date, $6, $7, $8, $9, $10)
                """, versionID, index + 1, pupilID, target.description.trimmingCharacters(in: .whitespacesAndNewlines),
                target.byDate.iso, target.measuredBy, target.instrument, target.subject ?? (target.instrument == nil ? nil : "reading"),
                target.measure, target.targetValue)
        }
        var provisionIDs = input.provisionIDs
        if let group {
            // A group plan is always served by its own provision.
            let own = try db.query("SELECT provision_id FROM provisions WHERE id = $1", group).scalar(as: String.self)
            if !provisionIDs.contains(own) { provisionIDs.insert(own, at: 0) }
        }
        for provisionID in Set(provisionIDs) {
            guard let row = try db.query(
                "SELECT id FROM provisions WHERE school_id = $1 AND provision_id = $2", school, provisionID
            ).singleRow() else { throw PlanError("there is no provision \(provisionID) at this school", notFound: true) }
            try db.execute(
                "INSERT INTO plan_provisions (plan_version_id, provision_id) VALUES ($1, $2)", versionID, try row.decode("id", as: Int64.self))
        }
    }
}
