import Foundation
import Postgres
import ProvisionModel
import ProvisionTestSupport
import Testing

/// The figures SENCOs found wrong or unexplained, checked against the data.
@Suite("reports whose numbers are right")
struct ReportCorrectnessTests {
    static let school = ReportContentTests.school
    static let term = ReportContentTests.term

    @Test func oneToOneTimeIsCountedForEachPupilAndExternalStaffCost() async throws {
        let trust = try await ReportFixture.shared.trust()
        let map = try await trust.json(["provision-map", "--school", Self.school] + Self.term)
        let provisions = try #require(map["areas"] as? [[String: Any]]).flatMap { try #require($0["provisions"] as? [[String: Any]]) }
        let statutory = try #require(provisions.first { ($0["statutory"] as? Bool) == true && ($0["delivery"] as? String) == "individual" })
        let id = try #require(statutory["provision_id"] as? String)
        // Pupils receiving it (not planned or withdrawn), sessions × minutes × weeks inside the term.
        let db = try await trust.connect()
        let receiving = try await db.query(
            """
            SELECT count(*) FROM enrolments e JOIN provisions pr ON pr.id = e.provision_id JOIN schools s ON s.id = pr.school_id
             WHERE s.urn = $1 AND pr.provision_id = $2 AND coalesce(e.status, 'active') NOT IN ('planned', 'withdrawn')
            """, Self.school, id).scalar(as: Int.self)
        let weeks = try await db.query(
            """
            SELECT (least(coalesce(pr.end_date, '2026-12-31'), '2026-12-31') - greatest(coalesce(pr.start_date, '2026-09-01'), '2026-09-01') + 1)::float8 / 7
              FROM provisions pr JOIN schools s ON s.id = pr.school_id WHERE s.urn = $1 AND pr.provision_id = $2
            """, Self.school, id).scalar(as: Double.self)
        await db.close()
        let sessions = try #require(statutory["sessions_per_week"] as? Double)
        let minutes = try #require(statutory["minutes_per_session"] as? Double)
        let hours = try #require(statutory["term_hours"] as? Double)
        #expect(receiving > 1, "the fixture's EHCP speech and language therapy has several pupils")
        #expect(abs(hours - Double(receiving) * sessions * minutes / 60 * weeks) < 0.01, "\(hours) hours for \(receiving) pupils")
        // The external therapist's hourly cost (£55 on the map) is counted: never £0.
        let cost = try #require(statutory["term_cost"] as? Double)
        #expect(abs(cost - hours * 55) <= 0.01 + 55 * 0.005, "cost \(cost) for \(hours) hours")  // hours are rounded to 0.01
    }

    @Test func aPlannedStatutoryPlaceIsShownAsNotDelivered() async throws {
        let trust = try await ReportFixture.shared.trust()
        let db = try await trust.connect()
        let planned = try await db.strings(
            """
            SELECT p.forename || ' ' || p.surname AS v FROM enrolments e JOIN provisions pr ON pr.id = e.provision_id
              JOIN pupils p ON p.id = e.pupil_id JOIN schools s ON s.id = pr.school_id
             WHERE s.urn = $1 AND pr.statutory AND e.status = 'planned'
            """, Self.school)
        await db.close()
        let html = try await trust.report(["provision-map", "--school", Self.school] + Self.term).standardOutput
        #expect(html.contains(": not delivered to every pupil"))
        for name in planned { #expect(html.contains(htmlEscaped(name) + " (Y") && html.contains("[PLANNED]"), "\(name)") }
        // Scores carry their units: reading ages in years and months.
        #expect(html.range(of: #"\d+y\d+m → "#, options: .regularExpression) != nil)
    }

    @Test func theParentsReportIsInPlainWords() async throws {
        let trust = try await ReportFixture.shared.trust()
        let db = try await trust.connect()
        let upn = try #require(try await db.strings(
            """
            SELECT p.upn AS v FROM enrolments e JOIN pupils p ON p.id = e.pupil_id JOIN provisions pr ON pr.id = e.provision_id
             WHERE e.exit_value IS NOT NULL AND pr.outcome_measure = 'age_months' ORDER BY p.upn LIMIT 1
            """).first)
        await db.close()
        let result = try await trust.report(["pupil", "--upn", upn, "--audience", "parent"])
        #expect(result.exitCode == 0, "\(result.standardError)")
        let html = result.standardOutput
        for jargon in ["ratio gain", "confidence", "CI", "n =", "interval", "standardised score change"] {
            #expect(!html.contains(jargon), "the parents' report says '\(jargon)'")
        }
        #expect(html.contains("What changed: "))
        #expect(html.contains("months more") || html.contains("we are looking at why"))
        #expect(html.contains("What is next: "))
        #expect(html.contains("size: A4 portrait"))
    }

    @Test func theTrustOverviewCountsVerdictsAsTheImpactReportDoes() async throws {
        let trust = try await ReportFixture.shared.trust()
        let overview = try await trust.json(["trust"] + Self.term)
        for school in try #require(overview["schools"] as? [[String: Any]]) {
            let urn = try #require(school["school_urn"] as? String)
            let impact = try await trust.json(["impact", "--school", urn] + Self.term)
            var counted: [String: Int] = [:]
            for provision in try #require(impact["provisions"] as? [[String: Any]]) {
                counted[try #require(provision["verdict"] as? String), default: 0] += 1
            }
            let verdicts = try #require(school["verdicts"] as? [String: Int])
            #expect(verdicts == counted, "school \(urn): trust \(verdicts), impact \(counted)")
        }
        // Alerts in words, with plurals.
        let html = try await trust.report(["trust"] + Self.term).standardOutput
        #expect(!html.contains("_"), "no rule identifiers")
        #expect(html.range(of: #"\b1 [a-z ]*pupils\b"#, options: .regularExpression) == nil)
    }

    @Test func theImpactReportDefaultsToTheLatestTermWithOutcomes() async throws {
        let trust = try await ReportFixture.shared.trust()
        let json = try await trust.json(["impact"])
        let term = try #require(json["term"] as? String)
        let db = try await trust.connect()
        let latest = try await db.query(
            """
            SELECT max(coalesce(pr.end_date, o.exit_date))::text FROM enrolment_outcomes o JOIN enrolments e ON e.id = o.enrolment_id
              JOIN provisions pr ON pr.id = e.provision_id
             WHERE o.evaluation_run_id = (SELECT max(id) FROM evaluation_runs WHERE status = 'succeeded') AND o.gain IS NOT NULL
            """).scalar(as: String.self)
        await db.close()
        let day = try #require(SchoolDate(iso: latest))
        let season = day.month >= 9 ? "autumn" : day.month >= 4 ? "summer" : "spring"
        #expect(term == "\(day.year)-\(season)")
        #expect(try #require(json["provisions"] as? [[String: Any]]).contains { ($0["verdict"] as? String) != "insufficient_data" })
    }
}
