import Foundation
import Postgres
import ProvisionConfig
@testable import ProvisionEvaluation
import ProvisionTestSupport
import Synchronization
import Testing

@Suite("evaluation rules, hand-made cases")
struct EvaluationRuleTests {
    @Test func ratioGainAndTheThreeAnswersFromRecordedScores() async throws {
        let f = try await EvaluationFixture.make("eval-ratio")
        let pupil = try await f.pupil(1)
        let reading = try await f.provision("RCU")
        try await f.enrol(reading, pupil, entry: (74, "2025-09-10"), exit: (83, "2025-12-15"))
        let run = try await f.evaluate()
        let row = try #require(try await f.outcome(run.runID, pupil: pupil))
        #expect(try row.decode("gain", as: Double.self) == 9)
        #expect(try row.decode("months", as: Double.self) == 3.15)
        #expect(try row.decode("ratio", as: Double.self) == 2.85)  // 9 months over 96 days
        #expect(try row.decode("entry_source", as: String.self) == "recorded")
        #expect(try row.decode("progress_made", as: Bool.self))
        #expect(try row.decode("accelerated", as: Bool.self))
        // No peers in this tiny school: gap narrowed is unknown, not guessed.
        #expect(try row.decode("gap_narrowed", as: Bool?.self) == nil)
    }

    @Test func entryAndExitComeFromAssessmentsInsideTheirWindowsOnly() async throws {
        let f = try await EvaluationFixture.make("eval-windows")
        let inside = try await f.pupil(1), outside = try await f.pupil(2)
        let reading = try await f.provision("RCU")
        try await f.assessment(inside, "age_months", 70, "2025-06-20")  // 87 days before the start
        try await f.assessment(inside, "age_months", 77, "2026-01-20")  // 39 days after the end
        try await f.assessment(outside, "age_months", 70, "2025-06-10")  // 97 days before
        try await f.assessment(outside, "age_months", 77, "2026-02-20")  // 70 days after
        try await f.enrol(reading, inside)
        try await f.enrol(reading, outside)
        let run = try await f.evaluate(asOf: .init(iso: "2026-03-01")!)
        let found = try #require(try await f.outcome(run.runID, pupil: inside))
        #expect(try found.decode("entry", as: Double?.self) == 70)
        #expect(try found.decode("exit", as: Double?.self) == 77)
        #expect(try found.decode("entry_source", as: String?.self) == "assessment")
        let missing = try #require(try await f.outcome(run.runID, pupil: outside))
        #expect(try missing.decode("entry", as: Double?.self) == nil)
        #expect(try missing.decode("exit", as: Double?.self) == nil)
        #expect(try missing.decode("gain", as: Double?.self) == nil)
    }

    @Test func anExitBeforeTheEntryIsNeverAGain() async throws {
        let f = try await EvaluationFixture.make("eval-backwards")
        let pupil = try await f.pupil(1)
        let reading = try await f.provision("RCU")
        try await f.enrol(reading, pupil, entry: (80, "2025-12-01"), exit: (90, "2025-09-01"))
        let run = try await f.evaluate()
        let row = try #require(try await f.outcome(run.runID, pupil: pupil))
        #expect(try row.decode("gain", as: Double?.self) == nil)
        #expect(try row.decode("exit", as: Double?.self) == nil)
    }

    @Test func aProvisionWithoutAnOutcomeMeasureOrInTheWrongUnitHasNoGain() async throws {
        let f = try await EvaluationFixture.make("eval-unit")
        let a = try await f.pupil(1), b = try await f.pupil(2)
        let social = try await f.provision("SOCIAL", measure: nil)
        try await f.enrol(social, a)
        // Measured in standardised scores, but the only assessments are reading ages.
        let boost = try await f.provision("BOOST", measure: "standardised")
        try await f.assessment(b, "age_months", 70, "2025-09-10")
        try await f.assessment(b, "age_months", 78, "2026-01-10")
        try await f.enrol(boost, b)
        let run = try await f.evaluate()
        #expect(run.enrolments == 1)  // the social-skills group is not measured
        #expect(try await f.outcome(run.runID, pupil: b)?.decode("gain", as: Double?.self) == nil)
    }

    @Test func fewerThanFiveIsInsufficientDataAndThenTheComparisonDecides() async throws {
        let f = try await EvaluationFixture.make("eval-verdict")
        let reading = try await f.provision("RCU")
        for n in 1...4 {
            try await f.enrol(reading, try await f.pupil(n), entry: (70, "2025-09-10"), exit: (85, "2025-12-15"))
        }
        #expect(try await f.verdict(try await f.evaluate().runID, provision: reading) == "insufficient_data")

        // Five pupils with large gains but no one to compare with: never "effective".
        let fifth = try await f.pupil(5)
        try await f.enrol(reading, fifth, entry: (71, "2025-09-10"), exit: (86, "2025-12-15"))
        #expect(try await f.verdict(try await f.evaluate().runID, provision: reading) == "inconclusive")

        // Pupils not in it, starting from similar scores, gained far less: now it is effective.
        for n in 10...19 {
            let peer = try await f.pupil(n)
            try await f.assessment(peer, "age_months", 70 + Double(n % 3), "2025-09-10")
            try await f.assessment(peer, "age_months", 73 + Double(n % 3), "2025-12-15")
        }
        let run = try await f.evaluate()
        #expect(try await f.verdict(run.runID, provision: reading) == "effective")
        let row = try #require(try await f.outcome(run.runID, pupil: fifth))
        #expect(try row.decode("gap_narrowed", as: Bool.self))
    }

    @Test func aProgrammeThatLosesGroundIsIneffectiveAndFlagged() async throws {
        let f = try await EvaluationFixture.make("eval-ineffective")
        let fast = try await f.provision("FAST")
        for n in 1...6 {
            try await f.enrol(fast, try await f.pupil(n), entry: (80, "2025-09-10"), exit: (80 + Double(n % 2), "2025-12-15"))
        }
        let run = try await f.evaluate()
        #expect(try await f.verdict(run.runID, provision: fast) == "ineffective")
        let flag = try #require(try await f.flags(run.runID, "ineffective_intervention").first)
        #expect(try flag.decode("reason", as: String.self).contains("is not working: mean ratio gain"))
    }

    /// Scaled scores (termly practice papers, say) are judged like raw scores, by the trend
    /// of the pupil's own history: a score that stops rising is a stall (they were left out
    /// of the model, so such a pupil was never judged).
    @Test func scaledScoresThatStopRisingAreAStall() async throws {
        let f = try await EvaluationFixture.make("eval-stall-scaled")
        let stalled = try await f.pupil(1)
        let rising = try await f.pupil(2)
        let history = [("2024-01-15", 90.0), ("2024-04-20", 92), ("2024-06-10", 93), ("2024-09-15", 95), ("2024-11-05", 96), ("2025-01-14", 98), ("2025-04-22", 100)]
        for (day, value) in history {
            try await f.assessment(stalled, "scaled", value, day, instrument: "Practice paper")
            try await f.assessment(rising, "scaled", value, day, instrument: "Practice paper")
        }
        for (day, frozen, onPace) in [("2025-06-09", 100.0, 101.0), ("2025-09-15", 99, 103), ("2025-11-03", 100, 104), ("2026-01-12", 100, 106)] {
            try await f.assessment(stalled, "scaled", frozen, day, instrument: "Practice paper")
            try await f.assessment(rising, "scaled", onPace, day, instrument: "Practice paper")
        }
        // A precise paper (1.5 points' error), so five level results are decisive; with the
        // default 3 points the same results are about twice likelier if progress stopped.
        var settings = Configuration.Evaluation()
        settings.instruments["Practice paper"] = Configuration.InstrumentScale(error: 1.5)
        let run = try await f.evaluate(settings)
        let flags = try await f.flags(run.runID, "stalled_pupil")
        #expect(try flags.map { try $0.decode("pupil_id", as: Int64.self) } == [stalled])
        let reason = try flags.first?.decode("reason", as: String.self)
        #expect(reason?.hasPrefix("Practice paper reading scaled score 100, 100, 99, 100, 100 since April 2025; at the pupil's usual rate it would be about 105 now.") == true, "\(reason ?? "no flag")")
    }

    /// A pupil stalled on two tests is told in the order of the tests' names, whichever test
    /// the results named first (results name their test by an id given in that order,
    /// migration 32).
    @Test func aStallOnTwoTestsListsThemByName() async throws {
        let f = try await EvaluationFixture.make("eval-stall-two-tests")
        let stalled = try await f.pupil(1)
        let history = [("2024-01-15", 90.0), ("2024-04-20", 92), ("2024-06-10", 93), ("2024-09-15", 95), ("2024-11-05", 96), ("2025-01-14", 98), ("2025-04-22", 100)]
        let frozen = [("2025-06-09", 100.0), ("2025-09-15", 99), ("2025-11-03", 100), ("2026-01-12", 100)]
        for instrument in ["Practice paper", "Arithmetic paper"] {
            for (day, value) in history + frozen { try await f.assessment(stalled, "scaled", value, day, instrument: instrument) }
        }
        let ids = try await f.db.query("SELECT instrument FROM result_tests ORDER BY id").rows.map { try $0.decode("instrument", as: String.self) }
        #expect(ids == ["Practice paper", "Arithmetic paper"])
        var settings = Configuration.Evaluation()
        for instrument in ["Practice paper", "Arithmetic paper"] { settings.instruments[instrument] = Configuration.InstrumentScale(error: 1.5) }
        let run = try await f.evaluate(settings)
        let flag = try #require(try await f.flags(run.runID, "stalled_pupil").first)
        let reason = try flag.decode("reason", as: String.self)
        #expect(reason.hasPrefix(
            "Arithmetic paper reading scaled score 100, 100, 99, 100, 100 since April 2025; at the pupil's usual rate it would be about 105 now. "
                + "Practice paper reading scaled score 100, 100, 99, 100, 100 since April 2025;"), "\(reason)")
    }

    @Test func aStallIsEvidenceAgainstThePupilsOwnHistory() async throws {
        let f = try await EvaluationFixture.make("eval-stall")
        // Born 2016-05-01: a reading age equal to chronological age is "reading at their age".
        let stalled = try await f.pupil(1, sen: "K")
        let progressing = try await f.pupil(2)
        let onePoint = try await f.pupil(3)
        let atCeiling = try await f.pupil(4)
        let steadyScore = try await f.pupil(5)
        let noResults = try await f.pupil(6)
        let history = [("2024-01-15", 92.0), ("2024-04-20", 96), ("2024-06-10", 97), ("2024-09-15", 100), ("2024-11-05", 102), ("2025-01-14", 104), ("2025-04-22", 107)]
        for (day, value) in history {
            try await f.assessment(stalled, "age_months", value, day)
            try await f.assessment(progressing, "age_months", value, day)
            try await f.assessment(atCeiling, "age_months", 190, day)
        }
        // Since April 2025 the stalled pupil's reading age has stood still; the other kept pace.
        for (day, frozen, onPace) in [("2025-06-09", 107.0, 109.0), ("2025-09-15", 106, 112), ("2025-11-03", 108, 114), ("2026-01-12", 107, 116)] {
            try await f.assessment(stalled, "age_months", frozen, day)
            try await f.assessment(progressing, "age_months", onPace, day)
            try await f.assessment(atCeiling, "age_months", 190, day)
        }
        // A level standardised score is normal progress (peers move on too), not a stall.
        for (day, score) in [("2024-09-15", 95.0), ("2025-01-14", 96), ("2025-04-22", 94), ("2025-09-15", 95), ("2026-01-12", 96)] {
            try await f.assessment(steadyScore, "standardised", score, day)
        }
        try await f.assessment(onePoint, "age_months", 100, "2025-11-03")
        try await f.assessment(onePoint, "age_months", 101, "2026-01-12")

        // A precise reading test (2 months' error), so four frozen results are decisive.
        var settings = Configuration.Evaluation()
        settings.instruments["Salford"] = Configuration.InstrumentScale(error: 2, floor: 48, ceiling: 190)
        let run = try await f.evaluate(settings)
        let flags = try await f.flags(run.runID, "stalled_pupil")
        #expect(flags.count == 1)
        let flag = try #require(flags.first)
        #expect(try flag.decode("pupil_id", as: Int64.self) == stalled)
        #expect(try flag.decode("priority", as: Int.self) == 2)  // on the SEN register
        let reason = try flag.decode("reason", as: String.self)
        #expect(reason.hasPrefix("Salford reading age 8y11m, 8y11m, 8y10m, 9y0m, 8y11m since April 2025; at the pupil's usual rate it would be about 9y8m now."), "\(reason)")
        #expect(reason.contains("times likelier if progress stopped than if it carried on as before"))
        // The one-result pupil, the one whose every result is at the test's ceiling and the
        // one with no results cannot be judged.
        #expect(run.stallNotJudged == 3)
        _ = (progressing, steadyScore, onePoint, atCeiling, noResults)

        // Evaluated again (not carried over), the results read on three connections, two on
        // the main transaction's snapshot (as the daemon reads them): the same flag, word for
        // word.
        let opened = Mutex(0)
        let shared = try await f.evaluate(settings, full: true) { opened.withLock { $0 += 1 } }
        #expect(opened.withLock { $0 } == 2)
        #expect(shared.schoolsEvaluated == 1)
        #expect(shared.summaryOfStalls == run.summaryOfStalls)
        let again = try await f.flags(shared.runID, "stalled_pupil")
        #expect(try again.map { try $0.decode("reason", as: String.self) } == [reason])
        // The other connections were closed: their sessions end (the server notices within moments).
        #expect(try await eventually {
            try await f.db.query(
                "SELECT count(*)::int FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).scalar(as: Int.self) == 0
        })
    }

    @Test func missingExitDataIsFlaggedOnlyAfterTheGracePeriod() async throws {
        let f = try await EvaluationFixture.make("eval-exit")
        let late = try await f.pupil(1), recent = try await f.pupil(2)
        let older = try await f.provision("OLD", end: "2026-01-10")
        let newer = try await f.provision("NEW", end: "2026-01-25")
        try await f.enrol(older, late, end: "2026-01-10", entry: (70, "2025-09-10"))
        try await f.enrol(newer, recent, end: "2026-01-25", entry: (70, "2025-09-10"))
        let flags = try await f.flags(try await f.evaluate().runID, "missing_exit_data")
        #expect(flags.count == 1)
        #expect(try flags.first?.decode("pupil_id", as: Int64.self) == late)
        #expect(try flags.first?.decode("reason", as: String.self).contains("(21 days ago) with no exit score") == true)
    }

    @Test func ehcpProvisionNotDeliveredNeedWithoutProvisionAndDuplicates() async throws {
        let f = try await EvaluationFixture.make("eval-statutory")
        let planned = try await f.pupil(1, sen: "E"), delivered = try await f.pupil(2, sen: "E")
        let unsupported = try await f.pupil(3, sen: "K"), left = try await f.pupil(4, sen: "K", onRoll: false)
        let doubled = try await f.pupil(5, sen: "K")
        let salt = try await f.provision("SALT", measure: nil, statutory: true, start: "2026-01-05", end: "2026-03-27")
        try await f.enrol(salt, planned, start: "2026-01-05", end: "2026-03-27", status: "planned")
        try await f.enrol(salt, delivered, start: "2026-01-05", end: "2026-03-27", status: "active")
        let one = try await f.provision("READ-A", start: "2026-01-05", end: "2026-03-27")
        let two = try await f.provision("READ-B", start: "2026-01-12", end: "2026-03-27")
        try await f.enrol(one, doubled, start: "2026-01-05", end: "2026-03-27", status: "active")
        try await f.enrol(two, doubled, start: "2026-01-12", end: "2026-03-27", status: "active")
        let run = try await f.evaluate()

        let ehcp = try await f.flags(run.runID, "ehcp_provision_not_delivered")
        #expect(try ehcp.map { try $0.decode("pupil_id", as: Int64.self) } == [planned])
        #expect(try ehcp.first?.decode("priority", as: Int.self) == 3)
        let need = try await f.flags(run.runID, "need_without_provision").map { try $0.decode("pupil_id", as: Int64.self) }
        #expect(Set(need) == [planned, unsupported])  // not the pupil who left, not those with provision
        _ = left
        let duplicates = try await f.flags(run.runID, "duplicated_provision")
        #expect(try duplicates.map { try $0.decode("pupil_id", as: Int64.self) } == [doubled])
        #expect(try duplicates.first?.decode("reason", as: String.self).contains("In 2 interventions at once") == true)
    }

    /// One test can measure several subjects (a teacher's steps in reading and in writing):
    /// doubled provision in each is its own flag, and the two do not collide.
    @Test func duplicatesInTwoSubjectsOfOneTestAreTwoFlags() async throws {
        let f = try await EvaluationFixture.make("eval-duplicates-subjects")
        let pupil = try await f.pupil(1, sen: "K")
        for (id, subject) in [("READ-A", "reading"), ("READ-B", "reading"), ("WRITE-A", "writing"), ("WRITE-B", "writing")] {
            let provision = try await f.db.query(
                """
                INSERT INTO provisions (school_id, provision_id, name, start_date, end_date, outcome_instrument, outcome_subject,
                                        outcome_measure, sessions_per_week, minutes_per_session, hourly_cost)
                VALUES ($1, $2, $2, '2026-01-05', '2026-03-27', 'Teacher assessment', $3, 'steps', 3, 30, 20) RETURNING id
                """, f.school, id, subject
            ).scalar(as: Int64.self)
            try await f.enrol(provision, pupil, start: "2026-01-05", end: "2026-03-27", status: "active")
        }
        let run = try await f.evaluate()
        let flags = try await f.flags(run.runID, "duplicated_provision")
        let reasons = try flags.map { try $0.decode("reason", as: String.self) }
        // The key migration 22 gives the alerts raised before subjects were in it.
        let upn = try await f.db.query("SELECT upn FROM pupils WHERE id = $1", pupil).scalar(as: String.self)
        #expect(try Set(flags.map { try $0.decode("subject_key", as: String.self) }) == [
            "duplicate:\(upn):Teacher assessment:reading:steps", "duplicate:\(upn):Teacher assessment:writing:steps",
        ])
        #expect(reasons.sorted() == [
            "In 2 interventions at once with the same outcome (Teacher assessment reading): READ-A, READ-B.",
            "In 2 interventions at once with the same outcome (Teacher assessment writing): WRITE-A, WRITE-B.",
        ])
    }

    /// A pupil can be enrolled in one statutory provision more than once (withdrawn, then
    /// planned again): one flag for the pair, none when one of the enrolments is active.
    @Test func statutoryProvisionEnrolledTwiceIsOneFlagOrNone() async throws {
        let f = try await EvaluationFixture.make("eval-ehcp-twice")
        let waiting = try await f.pupil(1, sen: "E"), delivered = try await f.pupil(2, sen: "E")
        let salt = try await f.provision("SALT", measure: nil, statutory: true, start: "2025-09-01", end: "2026-07-17")
        for pupil in [waiting, delivered] {
            try await f.enrol(salt, pupil, start: "2025-09-08", end: "2025-10-17", status: "withdrawn")
        }
        try await f.enrol(salt, waiting, start: "2026-02-23", end: "2026-07-17", status: "planned")
        try await f.enrol(salt, delivered, start: "2026-01-05", end: "2026-07-17", status: "active")
        let run = try await f.evaluate()
        let flags = try await f.flags(run.runID, "ehcp_provision_not_delivered")
        #expect(try flags.map { try $0.decode("pupil_id", as: Int64.self) } == [waiting])
        #expect(try flags.first?.decode("reason", as: String.self) == "SALT is specified in this pupil's EHC plan but is planned, not being delivered.")
    }

    @Test func reRunningOnUnchangedDataGivesTheSameResults() async throws {
        let f = try await EvaluationFixture.make("eval-repeat")
        let reading = try await f.provision("RCU")
        for n in 1...6 {
            let pupil = try await f.pupil(n, sen: n % 2 == 0 ? "K" : "N")
            try await f.enrol(reading, pupil, entry: (70 + Double(n), "2025-09-10"), exit: (78 + Double(n * 2 % 5), "2025-12-15"))
            try await f.assessment(pupil, "age_months", 70 + Double(n), "2025-09-10")
        }
        func results(_ run: Int64) async throws -> [String] {
            let outcomes = try await f.db.query(
                "SELECT row_to_json(o)::jsonb - 'evaluation_run_id' AS r FROM enrolment_outcomes o WHERE evaluation_run_id = $1 ORDER BY enrolment_id", run)
            let verdicts = try await f.db.query(
                "SELECT row_to_json(o)::jsonb - 'evaluation_run_id' - 'id' AS r FROM provision_outcomes o WHERE evaluation_run_id = $1 ORDER BY programme, provision_id", run)
            let flags = try await f.db.query(
                "SELECT row_to_json(o)::jsonb - 'evaluation_run_id' - 'id' AS r FROM evaluation_flags o WHERE evaluation_run_id = $1 ORDER BY rule, subject_key", run)
            return try (outcomes.rows + verdicts.rows + flags.rows).map { try $0.decode("r", as: String.self) }
        }
        let first = try await f.evaluate(), second = try await f.evaluate()
        #expect(first.runID != second.runID)
        #expect(try await results(first.runID) == (try await results(second.runID)))
    }

    @Test func eachStepIsAnnouncedAsItStartsAndTimed() async throws {
        let f = try await EvaluationFixture.make("eval-steps")
        let reading = try await f.provision("RCU")
        let pupil = try await f.pupil(1, sen: "K")
        try await f.enrol(reading, pupil, entry: (70, "2025-09-10"), exit: (76, "2025-12-15"))
        let announced = Mutex<[String]>([])
        var evaluator = Evaluator(settings: .init())
        evaluator.onStep = { step in announced.withLock { $0.append(step) } }
        let summary = try await evaluator.run(f.db, asOf: EvaluationFixture.asOf)
        let names = [
            "entry and exit", "flags from records", "value added", "results read (peers, stalls)", "enrolment outcomes",
            "verdicts", "flags from outcomes",
        ]
        #expect(announced.withLock { $0 } == names.enumerated().map { "\($0.element) (\($0.offset + 1) of 7)" })
        #expect(summary.steps.map(\.name) == names)
        #expect(summary.steps.allSatisfy { $0.duration > .zero && $0.duration <= summary.duration })

        // Other connections that cannot be opened: the same steps, every page read on the
        // main connection.
        struct NoConnection: Error {}
        evaluator.openHelper = { throw NoConnection() }
        #expect(try await evaluator.run(f.db, asOf: EvaluationFixture.asOf).steps.map(\.name) == names)
    }
}

extension EvaluationSummary {
    /// The stall rule's counts, to compare two runs.
    var summaryOfStalls: [Int] { [flags["stalled_pupil"] ?? -1, stallNotJudged] }
}
