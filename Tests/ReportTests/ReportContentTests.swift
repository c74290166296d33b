import Foundation
import Postgres
import ProvisionModel
import ProvisionTestSupport
import Testing

/// Each report checked against the data it was made from.
@Suite("report content")
struct ReportContentTests {
    static let school = "139001"
    static let term = ["--term", "2026-autumn"]

    @Test func theProvisionMapHasEveryProvisionAndPupilOfTheTermAndItsTotalsAddUp() async throws {
        let trust = try await ReportFixture.shared.trust()
        let map = try await trust.json(["provision-map", "--school", Self.school] + Self.term)
        let db = try await trust.connect()
        let expectedProvisions = try await db.strings(
            """
            SELECT pr.provision_id AS v FROM provisions pr JOIN schools s ON s.id = pr.school_id
             WHERE s.urn = $1 AND coalesce(pr.start_date, '2026-09-01') <= '2026-12-31'
               AND coalesce(pr.end_date, '2026-12-31') >= '2026-09-01'
            """, Self.school)
        let expectedPupils = try await db.strings(
            """
            SELECT DISTINCT p.upn AS v FROM enrolments e JOIN pupils p ON p.id = e.pupil_id
              JOIN provisions pr ON pr.id = e.provision_id JOIN schools s ON s.id = pr.school_id
             WHERE s.urn = $1 AND e.start_date <= '2026-12-31' AND coalesce(e.end_date, '2026-12-31') >= '2026-09-01'
               AND coalesce(pr.start_date, '2026-09-01') <= '2026-12-31' AND coalesce(pr.end_date, '2026-12-31') >= '2026-09-01'
            """, Self.school)
        #expect(!expectedProvisions.isEmpty && !expectedPupils.isEmpty, "the fixture has provision this term")

        let areas = try #require(map["areas"] as? [[String: Any]])
        let provisions = areas.flatMap { $0["provisions"] as? [[String: Any]] ?? [] }
        #expect(Set(provisions.compactMap { $0["provision_id"] as? String }) == Set(expectedProvisions))
        #expect(provisions.count == expectedProvisions.count, "each provision once")
        let pupils = provisions.flatMap { $0["pupils"] as? [[String: Any]] ?? [] }
        #expect(Set(pupils.compactMap { $0["upn"] as? String }) == Set(expectedPupils))

        // Totals: each area is the sum of its provisions, the school the sum of its areas.
        var total = 0.0
        for area in areas {
            let items = area["provisions"] as? [[String: Any]] ?? []
            let sum = items.compactMap { $0["term_cost"] as? Double }.reduce(0, +)
            #expect(abs((area["cost"] as? Double ?? -1) - sum) < 0.05)
            total += sum
        }
        let summary = try #require(map["summary"] as? [String: Any])
        #expect(abs((summary["term_cost"] as? Double ?? -1) - total) < 0.05)
        // Hours: sessions × minutes for the weeks inside the term, worked out here by hand.
        for provision in provisions {
            guard let sessions = provision["sessions_per_week"] as? Double, let minutes = provision["minutes_per_session"] as? Double,
                let start = (provision["start_date"] as? String).flatMap(SchoolDate.init(iso:))
            else { continue }
            let end = (provision["end_date"] as? String).flatMap(SchoolDate.init(iso:)) ?? SchoolDate(year: 2026, month: 12, day: 31)!
            let from = max(start, SchoolDate(year: 2026, month: 9, day: 1)!), to = min(end, SchoolDate(year: 2026, month: 12, day: 31)!)
            let days = Double(Calendar(identifier: .gregorian).dateComponents([.day], from: from.date, to: to.date).day ?? 0) + 1
            // One-to-one time is given to each pupil receiving it (neither planned nor withdrawn).
            let receiving = (provision["pupils"] as? [[String: Any]] ?? []).filter {
                !["planned", "withdrawn"].contains($0["status"] as? String ?? "active")
            }.count
            let perPupil = (provision["delivery"] as? String) == "individual" ? Double(receiving) : 1
            let expected = sessions * minutes / 60 * max(0, days) / 7 * perPupil
            #expect(abs((provision["term_hours"] as? Double ?? -1) - expected) < 0.01, "\(provision["provision_id"] ?? "")")
        }
        // The school's counts.
        let onRoll = try await db.double("SELECT count(*)::float8 FROM pupils p JOIN schools s ON s.id = p.school_id WHERE s.urn = $1 AND p.on_roll", Self.school)
        let ehcp = try await db.double(
            "SELECT count(*)::float8 FROM pupils p JOIN schools s ON s.id = p.school_id WHERE s.urn = $1 AND p.on_roll AND p.sen_provision = 'E'", Self.school)
        #expect(summary["on_roll"] as? Double == onRoll)
        #expect(summary["ehcp"] as? Double == ehcp)
        #expect(summary["pupils_in_provision"] as? Double == Double(expectedPupils.count))
        await db.close()
    }

    @Test func theProvisionMapHTMLNamesEveryProvisionAndPupil() async throws {
        let trust = try await ReportFixture.shared.trust()
        let html = try await trust.report(["provision-map", "--school", Self.school] + Self.term)
        #expect(html.exitCode == 0)
        let db = try await trust.connect()
        let names = try await db.strings(
            """
            SELECT DISTINCT p.forename || ' ' || p.surname AS v FROM enrolments e JOIN pupils p ON p.id = e.pupil_id
              JOIN provisions pr ON pr.id = e.provision_id JOIN schools s ON s.id = pr.school_id
             WHERE s.urn = $1 AND e.start_date <= '2026-12-31' AND coalesce(e.end_date, '2026-12-31') >= '2026-09-01'
            """, Self.school)
        for name in names { #expect(html.standardOutput.contains(htmlEscaped(name)), "\(name)") }
        let provisionNames = try await db.strings(
            """
            SELECT DISTINCT pr.name AS v FROM provisions pr JOIN schools s ON s.id = pr.school_id
             WHERE s.urn = $1 AND coalesce(pr.start_date, '2026-09-01') <= '2026-12-31' AND coalesce(pr.end_date, '2026-12-31') >= '2026-09-01'
            """, Self.school)
        for name in provisionNames { #expect(html.standardOutput.contains(htmlEscaped(name)), "\(name)") }
        // Self-contained: nothing fetched from elsewhere, no scripts.
        #expect(!html.standardOutput.contains("<script"))
        #expect(!html.standardOutput.contains("http://") || html.standardOutput.contains("http://www.w3.org/2000/svg"))
        #expect(!html.standardOutput.contains("https://"))
        #expect(html.standardOutput.contains("@page { size: A4 landscape"))
        await db.close()
    }

    @Test func theProvisionMapCSVOpensInExcelWithOneRowPerPupilInAProvision() async throws {
        let trust = try await ReportFixture.shared.trust()
        let (raw, rows) = try await trust.csv(["provision-map", "--school", Self.school] + Self.term)
        #expect(Array(raw.prefix(3)) == [0xEF, 0xBB, 0xBF], "UTF-8 byte-order mark for Excel")
        #expect(String(decoding: raw, as: UTF8.self).contains("\r\n"))
        let header = try #require(rows.first)
        #expect(header.first == "school_urn" && header.contains("upn") && header.contains("term_cost"))
        #expect(rows.dropFirst().allSatisfy { $0.count == header.count }, "one header row, every row as wide")
        let map = try await trust.json(["provision-map", "--school", Self.school] + Self.term)
        let provisions = (map["areas"] as? [[String: Any]] ?? []).flatMap { $0["provisions"] as? [[String: Any]] ?? [] }
        let expectedRows = provisions.map { max(1, ($0["pupils"] as? [Any])?.count ?? 0) }.reduce(0, +)
        #expect(rows.count - 1 == expectedRows)
    }

    @Test func impactMatchesTheEvaluationItIsBasedOn() async throws {
        let trust = try await ReportFixture.shared.trust()
        let impact = try await trust.json(["impact", "--term", "2025-autumn"])
        let provisions = try #require(impact["provisions"] as? [[String: Any]])
        #expect(!provisions.isEmpty)
        let db = try await trust.connect()
        for provision in provisions {
            for key in ["school_urn", "provision_id", "name", "n", "effect", "ci_low", "ci_high", "verdict"] {
                #expect(provision.keys.contains(key), "DESIGN §9 field \(key)")
            }
            let stored = try #require(try await db.query(
                """
                SELECT o.n, o.verdict, o.effect::float8 AS effect FROM provision_outcomes o
                  JOIN provisions pr ON pr.id = o.provision_id JOIN schools s ON s.id = pr.school_id
                 WHERE o.evaluation_run_id = (SELECT max(id) FROM evaluation_runs WHERE status = 'succeeded' AND school_id IS NULL)
                   AND s.urn = $1 AND pr.provision_id = $2
                """, provision["school_urn"] as? String ?? "", provision["provision_id"] as? String ?? ""
            ).singleRow())
            #expect(try stored.decode("n", as: Int.self) == provision["n"] as? Int)
            #expect(try stored.decode("verdict", as: String.self) == provision["verdict"] as? String)
            if let effect = try stored.decode("effect", as: Double?.self) {
                #expect(abs(effect - (provision["effect"] as? Double ?? .nan)) < 0.001)
            }
        }
        let html = try await trust.report(["impact", "--term", "2025-autumn"])
        #expect(html.standardOutput.contains("<svg"), "entry → exit charts")
        #expect(html.standardOutput.contains("expected progress"))
        await db.close()
    }

    @Test func needsCountEveryPupilWithSENOnceAndWhoIsServed() async throws {
        let trust = try await ReportFixture.shared.trust()
        let needs = try await trust.json(["needs"] + Self.term)
        let db = try await trust.connect()
        let pupils = try await db.double("SELECT count(*)::float8 FROM pupils WHERE on_roll AND sen_provision IN ('K', 'E')")
        let served = try await db.double(
            """
            SELECT count(*)::float8 FROM pupils p WHERE p.on_roll AND p.sen_provision IN ('K', 'E') AND EXISTS (
                SELECT 1 FROM enrolments e WHERE e.pupil_id = p.id AND e.start_date <= '2026-12-31'
                   AND coalesce(e.end_date, '2026-12-31') >= '2026-09-01')
            """)
        #expect(needs["pupils"] as? Double == pupils)
        #expect(needs["with_provision"] as? Double == served)
        let byNeed = try #require(needs["needs"] as? [[String: Any]])
        #expect(byNeed.compactMap { $0["pupils"] as? Double }.reduce(0, +) == pupils)
        let (_, rows) = try await trust.csv(["needs"] + Self.term)
        #expect(rows.dropFirst().compactMap { Double($0[3]) }.reduce(0, +) == pupils)
        await db.close()
    }

    @Test func costsAddUpByProvisionAreaFundingAndStaff() async throws {
        let trust = try await ReportFixture.shared.trust()
        let costs = try await trust.json(["costs", "--school", Self.school] + Self.term)
        let map = try await trust.json(["provision-map", "--school", Self.school] + Self.term)
        let total = costs["term_cost"] as? Double ?? -1
        #expect(abs(total - ((map["summary"] as? [String: Any])?["term_cost"] as? Double ?? -2)) < 0.05, "the same total as the map")
        for group in ["provisions", "areas_of_need", "funding_streams"] {
            let sum = (costs[group] as? [[String: Any]] ?? []).compactMap { $0["term_cost"] as? Double }.reduce(0, +)
            #expect(abs(sum - total) < 0.05, "\(group)")
        }
        let staff = try #require(costs["staff"] as? [[String: Any]])
        #expect(!staff.isEmpty)
        let db = try await trust.connect()
        // One member of staff's hours a week, by hand: the hours of every provision they run this term.
        let first = try #require(staff.first)
        let hours = try await db.double(
            """
            SELECT coalesce(sum(pr.sessions_per_week * pr.minutes_per_session / 60.0), 0)::float8 FROM provision_staff ps
              JOIN staff st ON st.id = ps.staff_id JOIN provisions pr ON pr.id = ps.provision_id JOIN schools s ON s.id = st.school_id
             WHERE s.urn = $1 AND st.staff_id = $2
               AND coalesce(pr.start_date, '2026-09-01') <= '2026-12-31' AND coalesce(pr.end_date, '2026-12-31') >= '2026-09-01'
            """, Self.school, first["staff_id"] as? String ?? "")
        #expect(abs(hours - (first["hours_per_week"] as? Double ?? -1)) < 0.01)
        await db.close()
    }

    @Test func aPupilsHistoryHasEveryProvisionTheyHaveHad() async throws {
        let trust = try await ReportFixture.shared.trust()
        let db = try await trust.connect()
        let row = try #require(try await db.query(
            """
            SELECT p.upn, count(*) AS n FROM enrolments e JOIN pupils p ON p.id = e.pupil_id
             GROUP BY p.upn ORDER BY count(*) DESC, p.upn LIMIT 1
            """).singleRow())
        let upn: String = try row.decode("upn")
        let pupil = try await trust.json(["pupil", "--upn", upn])
        #expect((pupil["provisions"] as? [Any])?.count == (try row.decode("n", as: Int.self)))
        #expect(pupil["upn"] as? String == upn)
        let missing = try await trust.report(["pupil", "--upn", "A123456789012"])
        #expect(missing.exitCode == 64)
        #expect(missing.standardError.contains("no pupil with UPN"))
        await db.close()
    }

    @Test func theTrustViewHasEverySchoolSideBySide() async throws {
        let trust = try await ReportFixture.shared.trust()
        let view = try await trust.json(["trust"] + Self.term)
        let schools = try #require(view["schools"] as? [[String: Any]])
        let db = try await trust.connect()
        #expect(schools.count == Int(try await db.double("SELECT count(*)::float8 FROM schools")))
        let onRoll = try await db.double("SELECT count(*)::float8 FROM pupils WHERE on_roll")
        #expect(schools.compactMap { $0["on_roll"] as? Double }.reduce(0, +) == onRoll)
        let open = try await db.double("SELECT count(*)::float8 FROM alerts WHERE status = 'open'")
        let reported = schools.flatMap { ($0["open_alerts"] as? [String: Double] ?? [:]).values }.reduce(0, +)
        #expect(reported == open)
        await db.close()
    }

    /// Each school's row names its own three commonest primary needs, counted as a query of
    /// that school alone counts them (the report reads every school's in one query).
    @Test func theTrustViewNamesEachSchoolsMainNeeds() async throws {
        let trust = try await ReportFixture.shared.trust()
        let html = try await trust.report(["trust"] + Self.term).standardOutput
        let db = try await trust.connect()
        let schools = try await db.query("SELECT id, urn FROM schools ORDER BY urn").rows
        #expect(schools.count >= 2)
        for school in schools {
            let id = try school.decode("id", as: Int64.self)
            let urn = try school.decode("urn", as: String.self)
            let needs = try await db.query(
                """
                SELECT n.code || ' ' || count(*) AS need FROM pupils p JOIN pupil_needs n ON n.pupil_id = p.id AND n.rank = 1
                 WHERE p.school_id = $1 AND p.on_roll AND p.sen_provision IN ('K', 'E')
                 GROUP BY n.code ORDER BY count(*) DESC, n.code LIMIT 3
                """, id
            ).rows.map { try $0.decode("need", as: String.self) }
            #expect(needs.count == 3, "school \(urn) has fewer than three needs in the fixture")
            let row = try #require(html.range(of: "(\(urn))").map { html[$0.upperBound...].prefix(while: { $0 != "\n" }) })
            let cells = row.components(separatedBy: "</td>")
            #expect(cells.contains { $0.hasSuffix(">" + needs.joined(separator: ", ")) }, "school \(urn): \(needs) not in \(row)")
        }
        await db.close()
    }

    @Test func mistakesInTheRequestAreNamed() async throws {
        let trust = try await ReportFixture.shared.trust()
        let noSchool = try await trust.report(["provision-map"])
        #expect(noSchool.exitCode == 64)
        let badTerm = try await trust.report(["needs", "--term", "autumn-2026"])
        #expect(badTerm.exitCode == 64)
        #expect(badTerm.standardError.contains("2026-autumn"))
        let unknown = try await trust.report(["needs", "--school", "999999"])
        #expect(unknown.exitCode == 64)
    }

    @Test func theDaemonLeavesEachSchoolsMapAndImpactReportInTheStateFolder() async throws {
        let trust = try await ReportFixture.shared.trust()
        for urn in ["139001", "139002"] {
            let folder = trust.folder + "/state/reports/" + urn
            let files = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
            #expect(files.contains { $0.hasSuffix("-provision-map.html") } && files.contains { $0.hasSuffix("-impact.html") }, "\(files)")
        }
        let mail = try FileManager.default.contentsOfDirectory(atPath: trust.folder + "/state/mail/new")
        let bodies = try mail.map { name in
            plainText(of: try String(contentsOfFile: trust.folder + "/state/mail/new/" + name, encoding: .utf8))
        }
        #expect(bodies.contains { $0.contains(trust.folder + "/state/reports/139001") }, "the SENCO digest says where the reports are")
    }
}

extension SchoolDate {
    var date: Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar.date(from: DateComponents(year: year, month: month, day: day))!
    }
}
