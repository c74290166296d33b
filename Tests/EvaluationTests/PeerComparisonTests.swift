import Foundation
import Postgres
import ProvisionModel
@testable import ProvisionEvaluation
import Testing

/// The comparison with non-participants, on a hand-made school whose medians are known.
@Suite("peer comparison")
struct PeerComparisonTests {
    @Test func peerAndMatchedGainsFollowTheirDefinitions() async throws {
        let f = try await EvaluationFixture.make("eval-peers")
        let reading = try await f.provision("RCU")
        let pupil = try await f.pupil(1)
        // Window 2025-09-10 → 2025-12-15, Year 4, entry 70: similar starts are 64–76.
        try await f.enrol(reading, pupil, entry: (70, "2025-09-10"), exit: (85, "2025-12-15"))

        @discardableResult
        func results(_ n: Int, year: String = "4", _ points: [(Double, String)]) async throws -> Int64 {
            let peer = try await f.pupil(n, year: year)
            for (value, day) in points { try await f.assessment(peer, "age_months", value, day) }
            return peer
        }
        try await results(2, [(72, "2025-09-12"), (76, "2025-12-10")])  // gain 4: peer, similar start
        try await results(3, [(90, "2025-09-10"), (96, "2025-12-15")])  // gain 6: peer only
        try await results(4, [(66, "2025-09-01"), (74, "2025-12-29")])  // gain 8, 14 days after the exit date: both
        try await results(5, [(70, "2025-08-20"), (80, "2025-12-15")])  // entry 21 days early: no gain
        try await results(6, year: "5", [(70, "2025-09-10"), (79, "2025-12-15")])  // another year group
        // Two results near the entry date: a gain from each (7 and 5).
        try await results(7, [(71, "2025-09-08"), (73, "2025-09-15"), (78, "2025-12-15")])
        // In another intervention with the same outcome over those dates, even withdrawn: no one's peer.
        let other = try await results(8, [(70, "2025-09-10"), (100, "2025-12-15")])
        let phonics = try await f.provision("PHON", start: "2025-11-01", end: "2026-02-01")
        try await f.enrol(phonics, other, start: "2025-11-01", end: "2026-02-01", status: "withdrawn")

        // Another school of the trust: only similar starts count, as matched pupils. Its
        // second pupil's exit result is 14 days after the exit date, the furthest that counts.
        let school = try await f.db.query("INSERT INTO schools (urn, name) VALUES ('139002', 'Other') RETURNING id").scalar(as: Int64.self)
        for (n, entry, exit, exitDay) in [(20, 75.0, 77.0, "2025-12-29"), (21, 60.0, 90.0, "2025-12-15")] {
            let id = try await f.db.query(
                """
                INSERT INTO pupils (upn, school_id, surname, forename, dob, year_group, sen_provision)
                VALUES ($1, $2, 'S', 'F', '2016-05-01', '4', 'N') RETURNING id
                """, UPN.withCheckLetter(String(format: "801200025%03d", n))!, school
            ).scalar(as: Int64.self)
            for (value, day) in [(entry, "2025-09-10"), (exit, exitDay)] {
                try await f.db.execute(
                    """
                    INSERT INTO assessments (pupil_id, school_id, instrument, subject, measure, value, assessed_on)
                    VALUES ($1, $2, 'Salford', 'reading', 'age_months', $3, $4::date)
                    """, id, school, value, day)
            }
        }

        func figures(_ run: Int64) async throws -> (peer: Double, peerN: Int, matched: Double, matchedN: Int) {
            let row = try #require(try await f.db.query(
                """
                SELECT o.peer_gain::float8 AS peer, o.peer_n, o.matched_gain::float8 AS matched, o.matched_n
                  FROM enrolment_outcomes o JOIN enrolments e ON e.id = o.enrolment_id
                 WHERE o.evaluation_run_id = $1 AND e.pupil_id = $2
                """, run, pupil
            ).singleRow())
            return (try row.decode("peer"), try row.decode("peer_n"), try row.decode("matched"), try row.decode("matched_n"))
        }
        let trust = try await figures(try await f.evaluate().runID)
        // Peers (this school, Year 4): 4, 6, 8, 7, 5.
        #expect(trust.peerN == 5)
        #expect(trust.peer == 6)
        // Similar starts anywhere: 4, 8, 7, 5 here and 2 at the other school.
        #expect(trust.matchedN == 5)
        #expect(trust.matched == 5)
        // This school's own evaluation reads the other school's pupils as peers only (not
        // judged by the stall rule): the same figures.
        let own = try await figures(try await f.evaluate(school: "139001", full: true).runID)
        #expect(own == trust)
    }

    @Test func anEvenCountTakesTheMeanOfTheMiddleTwo() async throws {
        let f = try await EvaluationFixture.make("eval-peers-even")
        let reading = try await f.provision("RCU")
        let pupil = try await f.pupil(1)
        try await f.enrol(reading, pupil, entry: (70, "2025-09-10"), exit: (85, "2025-12-15"))
        for (n, gain) in [(2, 1.5), (3, 4.0), (4, 2.0), (5, 9.0)] {
            let peer = try await f.pupil(n)
            try await f.assessment(peer, "age_months", 70, "2025-09-10")
            try await f.assessment(peer, "age_months", 70 + gain, "2025-12-15")
        }
        let run = try await f.evaluate()
        let row = try #require(try await f.db.query(
            "SELECT peer_gain::text AS peer, matched_gain::text AS matched FROM enrolment_outcomes WHERE evaluation_run_id = $1 AND peer_n = 4",
            run.runID
        ).singleRow())
        // (2 + 4) / 2, stored as the number it is.
        #expect(try row.decode("peer", as: String.self) == "3")
        #expect(try row.decode("matched", as: String.self) == "3")
    }

    /// Pupils far apart in id are read by their ids, not by the range between them.
    @Test func scatteredPupilsAreReadByTheirIds() async throws {
        let f = try await EvaluationFixture.make("eval-peers-scattered")
        let reading = try await f.provision("RCU")
        let pupil = try await f.pupil(1)
        try await f.enrol(reading, pupil, entry: (70, "2025-09-10"), exit: (85, "2025-12-15"))
        let far = try await f.db.query(
            """
            INSERT INTO pupils (id, upn, school_id, surname, forename, dob, year_group, sen_provision)
            VALUES (900000, $1, $2, 'S', 'F', '2016-05-01', '4', 'N') RETURNING id
            """, UPN.withCheckLetter("801200025777")!, f.school
        ).scalar(as: Int64.self)
        try await f.assessment(far, "age_months", 71, "2025-09-10")
        try await f.assessment(far, "age_months", 74, "2025-12-15")
        #expect(PupilBatches.batch([pupil, far]).only != nil)
        let run = try await f.evaluate()
        let row = try #require(try await f.db.query(
            "SELECT peer_gain::float8 AS peer, peer_n FROM enrolment_outcomes WHERE evaluation_run_id = $1", run.runID
        ).singleRow())
        #expect(try row.decode("peer_n", as: Int.self) == 1)
        #expect(try row.decode("peer", as: Double.self) == 3)
    }

    /// With a helper, the pupils are cut into two ranges, each read on its own connection:
    /// every pupil comes in exactly one page, both connections read, and `body` gets their
    /// pages in turn.
    @Test func pagesAreSharedBetweenConnections() async throws {
        let f = try await EvaluationFixture.make("eval-pages-shared")
        var ids: [Int64] = []
        for n in 1...7 { ids.append(try await f.pupil(n)) }
        let helper = try await PostgresConnection.connect(f.url)
        try await f.db.begin()
        let snapshot = try await f.db.query("SELECT pg_export_snapshot()").scalar(as: String.self)
        try await helper.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try await helper.execute("SET TRANSACTION SNAPSHOT '\(snapshot)'")
        var seen: [Int64] = []
        var readers: [Int] = []
        try await PupilBatches.forEachPage(
            f.db, helpers: [helper], size: 2, "SELECT id FROM pupils WHERE id > $1 AND id <= $3 ORDER BY id LIMIT $2", [],
            results: { _ in ("SELECT pg_backend_pid() AS reader", []) }
        ) { page, results in
            for row in 0..<page.rowCount { seen.append(try page.int64(row, 0)) }
            readers.append(try results.int(0, 0))
        }
        await f.db.rollback()
        await helper.close()
        #expect(seen.sorted() == ids)
        // Seven pupils in ranges of four and three, two to a page: 2 + 2, then 2 + 1.
        #expect(readers.count == 4)
        #expect(Set(readers).count == 2)
        #expect(readers[0] != readers[1] && readers[0] == readers[2] && readers[1] == readers[3])
    }

    /// A page is read without parallel plans (a parallel scan of every result for each page
    /// cost three times a bitmap scan of its pupils) and along the index rather than by a
    /// bitmap scan and a sort, and the transaction's settings are put back once the pages are
    /// read, for the statements after them.
    @Test func pagesAreReadSeriallyAlongTheIndexAndTheSettingsArePutBack() async throws {
        let f = try await EvaluationFixture.make("eval-pages-serial")
        for n in 1...3 { _ = try await f.pupil(n) }
        try await f.db.begin()
        try await f.db.execute("SET LOCAL max_parallel_workers_per_gather = 3")
        let settings = "SELECT current_setting('max_parallel_workers_per_gather') || ' ' || current_setting('enable_bitmapscan') AS s"
        var seen: [String] = []
        try await PupilBatches.forEachPage(
            f.db, size: 2, "SELECT id FROM pupils WHERE id > $1 AND id <= $3 ORDER BY id LIMIT $2", [],
            results: { _ in (settings, []) }
        ) { _, results in
            seen.append(try results.text(0, 0))
        }
        let after = try await f.db.query(settings).scalar(as: String.self)
        await f.db.rollback()
        #expect(seen == ["0 off", "0 off"])
        #expect(after == "3 on")
    }
}
