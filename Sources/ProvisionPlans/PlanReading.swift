import Foundation
import Postgres
import ProvisionModel

extension Plans {
    /// The plan with every version, review and share; nil when there is no such plan.
    /// Targets linked to a test carry their progress from the imported assessments.
    public static func read(_ db: PostgresConnection, plan planID: Int64) async throws -> Plan? {
        guard let head = try await db.query(
            """
            SELECT s.urn, sp.kind, p.upn, p.forename || ' ' || p.surname AS pupil_name, pr.provision_id, pr.name AS provision_name
              FROM support_plans sp JOIN schools s ON s.id = sp.school_id
              LEFT JOIN pupils p ON p.id = sp.pupil_id LEFT JOIN provisions pr ON pr.id = sp.provision_id
             WHERE sp.id = $1
            """, planID
        ).singleRow() else { return nil }

        let targets = try await db.query(
            """
            SELECT t.plan_version_id, t.id, p.upn, p.forename || ' ' || p.surname AS name, t.description, t.by_date::text AS by_date,
                   t.measured_by, t.instrument, t.subject, t.measure, t.target_value::float8 AS target_value,
                   (SELECT a.value::float8 FROM assessments a
                     WHERE a.pupil_id = t.pupil_id AND a.instrument = t.instrument AND a.subject = t.subject AND a.measure = t.measure
                       AND a.assessed_on <= v.created_at::date ORDER BY a.assessed_on DESC LIMIT 1) AS baseline,
                   latest.value AS latest, latest.day AS latest_on
              FROM plan_targets t JOIN plan_versions v ON v.id = t.plan_version_id JOIN pupils p ON p.id = t.pupil_id
              LEFT JOIN LATERAL (
                  SELECT a.value::float8 AS value, a.assessed_on::text AS day FROM assessments a
                   WHERE a.pupil_id = t.pupil_id AND a.instrument = t.instrument AND a.subject = t.subject AND a.measure = t.measure
                     AND a.assessed_on > v.created_at::date
                   ORDER BY a.assessed_on DESC LIMIT 1) latest ON true
             WHERE v.plan_id = $1 ORDER BY t.plan_version_id, t.position
            """, planID)
        var targetsByVersion: [Int64: [Plan.Target]] = [:]
        for row in targets.rows {
            var progress: Plan.Progress?
            if let latest = try row.decode("latest", as: Double?.self), let day = try row.decode("latest_on", as: String?.self).flatMap(SchoolDate.init(iso:)) {
                let goal = try row.decode("target_value", as: Double?.self)
                progress = Plan.Progress(baseline: try row.decode("baseline"), latest: latest, on: day, met: goal.map { latest >= $0 } ?? false)
            }
            targetsByVersion[try row.decode("plan_version_id"), default: []].append(Plan.Target(
                id: try row.decode("id"), upn: try row.decode("upn"), pupilName: try row.decode("name"),
                description: try row.decode("description"), byDate: try date(row, "by_date"), measuredBy: try row.decode("measured_by"),
                instrument: try row.decode("instrument"), subject: try row.decode("subject"), measure: try row.decode("measure"),
                targetValue: try row.decode("target_value"), progress: progress))
        }

        var provisionsByVersion: [Int64: [(id: String, name: String)]] = [:]
        for row in try await db.query(
            """
            SELECT pp.plan_version_id, pr.provision_id, pr.name FROM plan_provisions pp
              JOIN plan_versions v ON v.id = pp.plan_version_id JOIN provisions pr ON pr.id = pp.provision_id
             WHERE v.plan_id = $1 ORDER BY pr.name
            """, planID
        ).rows {
            provisionsByVersion[try row.decode("plan_version_id"), default: []].append((try row.decode("provision_id"), try row.decode("name")))
        }

        let versions = try await db.query(
            """
            SELECT id, version, strengths, needs, strategies, people, next_review::text AS next_review, created_at, created_by,
                   from_review_id
              FROM plan_versions WHERE plan_id = $1 ORDER BY version
            """, planID
        ).rows.map { row in
            let id: Int64 = try row.decode("id")
            return Plan.Version(
                id: id, number: try row.decode("version"), strengths: try row.decode("strengths"), needs: try row.decode("needs"),
                strategies: try row.decode("strategies"), people: try row.decode("people"), nextReview: try date(row, "next_review"),
                createdAt: try row.decode("created_at"), createdBy: try row.decode("created_by"), fromReviewID: try row.decode("from_review_id"),
                targets: targetsByVersion[id] ?? [], provisions: provisionsByVersion[id] ?? [])
        }

        var ratings: [Int64: [(targetID: Int64, rating: Rating, evidence: String)]] = [:]
        for row in try await db.query(
            """
            SELECT rr.review_id, rr.target_id, rr.rating, rr.evidence FROM review_ratings rr
              JOIN plan_reviews r ON r.id = rr.review_id JOIN plan_versions v ON v.id = r.plan_version_id
             WHERE v.plan_id = $1
            """, planID
        ).rows {
            ratings[try row.decode("review_id"), default: []].append(
                (try row.decode("target_id"), Rating(rawValue: try row.decode("rating")) ?? .notYet, try row.decode("evidence")))
        }
        var decisions: [Int64: [(provisionID: String, name: String, decision: Decision, verdict: String?, note: String)]] = [:]
        for row in try await db.query(
            """
            SELECT d.review_id, pr.provision_id, pr.name, d.decision, d.verdict, d.note FROM review_decisions d
              JOIN provisions pr ON pr.id = d.provision_id JOIN plan_reviews r ON r.id = d.review_id
              JOIN plan_versions v ON v.id = r.plan_version_id
             WHERE v.plan_id = $1 ORDER BY pr.name
            """, planID
        ).rows {
            decisions[try row.decode("review_id"), default: []].append((
                try row.decode("provision_id"), try row.decode("name"), Decision(rawValue: try row.decode("decision")) ?? .continue,
                try row.decode("verdict"), try row.decode("note")))
        }
        let reviews = try await db.query(
            """
            SELECT r.id, r.plan_version_id, r.held_on::text AS held_on, r.attendees, r.pupil_voice, r.parent_voice, r.summary, r.created_by
              FROM plan_reviews r JOIN plan_versions v ON v.id = r.plan_version_id WHERE v.plan_id = $1 ORDER BY v.version
            """, planID
        ).rows.map { row in
            let id: Int64 = try row.decode("id")
            return Plan.Review(
                id: id, versionID: try row.decode("plan_version_id"), heldOn: try date(row, "held_on"), attendees: try row.decode("attendees"),
                pupilVoice: try row.decode("pupil_voice"), parentVoice: try row.decode("parent_voice"), summary: try row.decode("summary"),
                createdBy: try row.decode("created_by"),
                ratings: (ratings[id] ?? []).sorted { $0.targetID < $1.targetID }, decisions: decisions[id] ?? [])
        }
        let shares = try await db.query(
            """
            SELECT sh.plan_version_id, sh.shared_on::text AS shared_on, sh.how, sh.recorded_by FROM plan_shares sh
              JOIN plan_versions v ON v.id = sh.plan_version_id WHERE v.plan_id = $1 ORDER BY sh.shared_on, sh.id
            """, planID
        ).rows.map { row in
            Plan.Share(versionID: try row.decode("plan_version_id"), sharedOn: try date(row, "shared_on"), how: try row.decode("how"),
                       recordedBy: try row.decode("recorded_by"))
        }

        let upn: String? = try head.decode("upn")
        let provision: String? = try head.decode("provision_id")
        return Plan(
            id: planID, schoolURN: try head.decode("urn"), kind: PlanKind(rawValue: try head.decode("kind")) ?? .senSupport,
            pupil: try upn.map { ($0, try head.decode("pupil_name", as: String.self)) },
            provision: try provision.map { ($0, try head.decode("provision_name", as: String.self)) },
            versions: versions, reviews: reviews, shares: shares)
    }

    static func date(_ row: PostgresRow, _ column: String) throws -> SchoolDate {
        let text: String = try row.decode(column)
        guard let day = SchoolDate(iso: text) else { throw PlanError("\(column) '\(text)' is not a date") }
        return day
    }
}
