import Foundation
import Postgres
import ProvisionStore
import ProvisionTestSupport
import Testing

/// Results refer to pupils and schools (migration 13), pupils to their school (migration 14),
/// flags and alerts to their school, pupil and provision (migration 15) and flags to their
/// run (migration 17), needs to their pupil (migration 26) and an evaluation's outcomes to
/// their run, enrolment, provision and school (migration 31) through set-based checks, not
/// foreign keys: these show the checks refuse everything a foreign key would, and take the
/// locks it took.
@Suite("result references")
struct ResultReferenceTests {
    /// A migrated database with one school, pupils 1 (with a result) and 2 (without).
    private func database(_ label: String) async throws -> (PostgresConnection, url: String) {
        let (db, url) = try await TestPostgres.shared.freshConnection(label)
        try await Migrator().migrate(db)
        try await db.execute("INSERT INTO schools (id, urn, name) VALUES (1, '100001', 'School')")
        try await db.execute(
            """
            INSERT INTO pupils (id, upn, school_id, surname, forename, dob)
            VALUES (1, 'A801200100001', 1, 'S', 'F', '2015-01-01'), (2, 'B801200100002', 1, 'S', 'F', '2015-01-01')
            """)
        try await db.execute(Self.insertResult(pupil: 1, school: 1, on: "2025-01-15"))
        return (db, url)
    }

    private static func insertResult(pupil: Int, school: Int, on date: String) -> String {
        insertResults(pupils: [pupil], school: school, on: date)
    }

    /// One statement inserting a result of each of `pupils` into the results' table, filed
    /// under `school`.
    private static func insertResults(pupils: [Int], school: Int, on date: String) -> String {
        "INSERT INTO results (pupil_id, school_id, test_id, value, assessed_on) VALUES "
            + pupils.map { "(\($0), \(school), \(salford), 80, '\(date)')" }.joined(separator: ", ")
    }
    private static let salford = "result_test_id('Salford', 'reading', 'age_months')"

    /// Runs each statement, expecting the server to refuse it as a foreign key would (23503).
    private func expectRefused(
        _ db: PostgresConnection, _ statements: [String], sourceLocation: SourceLocation = #_sourceLocation
    ) async {
        for statement in statements {
            let error = await #expect(throws: PostgresError.self, sourceLocation: sourceLocation) { try await db.execute(statement) }
            #expect(error?.sqlState == SQLState.foreignKeyViolation, "\(statement)", sourceLocation: sourceLocation)
        }
    }

    private func resultCount(_ db: PostgresConnection) async throws -> Int {
        try await db.query("SELECT count(*) FROM assessments").scalar(as: Int.self)
    }

    @Test func aResultNamingAMissingPupilOrSchoolIsRefusedWithEveryRowOfItsStatement() async throws {
        let (db, _) = try await database("refs-insert")
        await expectRefused(db, [
            Self.insertResult(pupil: 99, school: 1, on: "2025-02-15"),
            Self.insertResult(pupil: 2, school: 99, on: "2025-02-15"),
            """
            INSERT INTO results (pupil_id, school_id, test_id, value, assessed_on)
            VALUES (2, 1, \(Self.salford), 80, '2025-02-15'), (99, 1, \(Self.salford), 80, '2025-03-15')
            """,
            "UPDATE results SET pupil_id = 99",
        ])
        #expect(try await resultCount(db) == 1)
        #expect(try await db.query("SELECT pupil_id FROM assessments").scalar(as: Int.self) == 1)
        await db.close()
    }

    /// A statement's pupils with ids close together are read as a range of the pupils' key,
    /// ids far apart each by key (migration 27): both are checked, and raise, alike.
    @Test(arguments: [4, 1_000_000])
    func resultsOfPupilsWithCloseOrDistantIdsAreCheckedAndRaiseTheSameSchools(secondPupil: Int) async throws {
        let (db, _) = try await database("refs-range-\(secondPupil)")
        try await db.execute("INSERT INTO schools (id, urn, name) VALUES (2, '100002', 'Other')")
        try await db.execute(
            "INSERT INTO pupils (id, upn, school_id, surname, forename, dob) VALUES ($1, 'C801200100003', 1, 'S', 'F', '2015-01-01')",
            secondPupil)
        // The second pupil is in a provision of the other school, whose evaluation reads their results.
        try await db.execute("INSERT INTO provisions (id, school_id, provision_id, name) VALUES (1, 2, 'CLUB', 'Lunch club')")
        try await db.execute(
            "INSERT INTO enrolments (provision_id, pupil_id, start_date, status) VALUES (1, $1, '2025-09-15', 'active')", secondPupil)
        func versions() async throws -> [Int] {
            try await db.query("SELECT data_version FROM schools ORDER BY id").rows.map { try $0.decode("data_version") }
        }
        let before = try await versions()
        try await db.execute(Self.insertResults(pupils: [1, 2, secondPupil], school: 1, on: "2025-03-15"))
        #expect(try await versions() == before.map { $0 + 1 })
        // Only the pupils' own school when none of them is in the other's provision.
        try await db.execute(Self.insertResults(pupils: [1, 2], school: 1, on: "2025-04-15"))
        #expect(try await versions() == [before[0] + 2, before[1] + 1])

        // A missing pupil beside them (its id within the range, or beyond it), or at either
        // end of bigint (whose range would overflow bigint), is refused and named.
        for missing in [secondPupil + 1, secondPupil - 1, Int.min, Int.max] {
            let error = await #expect(throws: PostgresError.self) {
                try await db.execute(Self.insertResults(pupils: [1, 2, secondPupil, missing], school: 1, on: "2025-05-15"))
            }
            #expect(error?.sqlState == SQLState.foreignKeyViolation)
            #expect(error?.message == "a result of 2025-05-15 names pupil \(missing) and school 1, and one of them does not exist")
        }
        #expect(try await resultCount(db) == 6)
        await db.close()
    }

    /// A statement's pupils with consecutive ids, all of one school, are checked by counting
    /// them (migration 29): it raises the schools the join raised (their own, and that of a
    /// provision elsewhere one of them is in), a block with a pupil of another school raises
    /// that school too, and a result filed at a school that does not exist is refused.
    @Test func resultsOfABlockOfConsecutivePupilsRaiseTheSchoolsTheJoinDid() async throws {
        let (db, _) = try await database("refs-block")
        try await db.execute("INSERT INTO schools (id, urn, name) VALUES (2, '100002', 'Other'), (3, '100003', 'Third')")
        try await db.execute(
            """
            INSERT INTO pupils (id, upn, school_id, surname, forename, dob)
            VALUES (3, 'C801200100003', 1, 'S', 'F', '2015-01-01'), (4, 'D801200100004', 2, 'S', 'F', '2015-01-01')
            """)
        try await db.execute("INSERT INTO provisions (id, school_id, provision_id, name) VALUES (1, 3, 'CLUB', 'Lunch club')")
        try await db.execute("INSERT INTO enrolments (provision_id, pupil_id, start_date, status) VALUES (1, 3, '2025-09-15', 'active')")
        func versions() async throws -> [Int] {
            try await db.query("SELECT data_version FROM schools ORDER BY id").rows.map { try $0.decode("data_version") }
        }
        let before = try await versions()
        try await db.execute(Self.insertResults(pupils: [1, 2, 3], school: 1, on: "2025-03-15"))
        #expect(try await versions() == [before[0] + 1, before[1], before[2] + 1])
        try await db.execute(Self.insertResults(pupils: [1, 2], school: 1, on: "2025-04-15"))
        #expect(try await versions() == [before[0] + 2, before[1], before[2] + 1])
        try await db.execute(Self.insertResults(pupils: [2, 3, 4], school: 1, on: "2025-05-15"))
        #expect(try await versions() == [before[0] + 3, before[1] + 1, before[2] + 2])

        let error = await #expect(throws: PostgresError.self) {
            try await db.execute(Self.insertResults(pupils: [1, 2], school: 99, on: "2025-06-15"))
        }
        #expect(error?.sqlState == SQLState.foreignKeyViolation)
        #expect(error?.message == "a result of 2025-06-15 names pupil 1 and school 99, and one of them does not exist")
        #expect(try await resultCount(db) == 9)
        await db.close()
    }

    @Test func aPupilOrSchoolWithResultsCannotBeRemovedOrRenumbered() async throws {
        let (db, _) = try await database("refs-delete")
        await expectRefused(db, [
            "DELETE FROM pupils WHERE id = 1", "UPDATE pupils SET id = 5 WHERE id = 1", "TRUNCATE pupils CASCADE",
            "DELETE FROM schools WHERE id = 1", "UPDATE schools SET id = 5",
        ])
        // A pupil no result names can still go, as with a foreign key.
        #expect(try await db.execute("DELETE FROM pupils WHERE id = 2") == 1)
        #expect(try await db.query("SELECT count(*) FROM pupils").scalar(as: Int.self) == 1)
        #expect(try await resultCount(db) == 1)
        await db.close()
    }

    @Test func aPupilNamingAMissingSchoolIsRefusedAndASchoolWithPupilsCannotBeRemoved() async throws {
        let (db, _) = try await database("refs-pupil-school")
        await expectRefused(db, [
            "INSERT INTO pupils (id, upn, school_id, surname, forename, dob) VALUES (3, 'C801200100003', 99, 'S', 'F', '2015-01-01')",
            """
            INSERT INTO pupils (id, upn, school_id, surname, forename, dob)
            VALUES (3, 'C801200100003', 1, 'S', 'F', '2015-01-01'), (4, 'D801200100004', 99, 'S', 'F', '2015-01-01')
            """,
            "UPDATE pupils SET school_id = 99 WHERE id = 2",
        ])
        #expect(try await db.query("SELECT count(*) FROM pupils").scalar(as: Int.self) == 2)
        #expect(try await db.query("SELECT sum(school_id) FROM pupils").scalar(as: Int.self) == 2)

        // Schools with pupils and no results: the pupils alone keep them.
        try await db.execute("INSERT INTO schools (id, urn, name) VALUES (2, '100002', 'Other')")
        try await db.execute("UPDATE pupils SET school_id = 2 WHERE id = 2")
        try await db.execute("DELETE FROM assessments")
        await expectRefused(db, ["DELETE FROM schools WHERE id = 2", "TRUNCATE schools CASCADE"])
        // A school no pupil names can still go.
        try await db.execute("INSERT INTO schools (id, urn, name) VALUES (3, '100003', 'Empty')")
        #expect(try await db.execute("DELETE FROM schools WHERE id = 3") == 1)
        #expect(try await db.query("SELECT count(*) FROM schools").scalar(as: Int.self) == 2)
        await db.close()
    }

    @Test func flagsAndAlertsNameOnlyWhatExistsAndKeepItFromBeingRemoved() async throws {
        let (db, _) = try await database("refs-flags")
        try await db.execute("INSERT INTO provisions (id, school_id, provision_id, name) VALUES (1, 1, 'P1', 'Reading'), (2, 1, 'P2', 'Talk')")
        let run = try await db.query("INSERT INTO evaluation_runs (status) VALUES ('succeeded') RETURNING id").scalar(as: Int.self)
        func flag(school: Int, pupil: Int?, provision: Int?, key: String) -> String {
            """
            INSERT INTO evaluation_flags (evaluation_run_id, rule, school_id, subject_key, pupil_id, provision_id, reason)
            VALUES (\(run), 'stalled_pupil', \(school), '\(key)', \(pupil.map(String.init) ?? "NULL"), \(provision.map(String.init) ?? "NULL"), 'r')
            """
        }
        func alert(school: Int, pupil: Int?, provision: Int?, key: String) -> String {
            """
            INSERT INTO alerts (rule, school_id, subject_key, pupil_id, provision_id, reason)
            VALUES ('stalled_pupil', \(school), '\(key)', \(pupil.map(String.init) ?? "NULL"), \(provision.map(String.init) ?? "NULL"), 'r')
            """
        }
        await expectRefused(db, [
            flag(school: 99, pupil: nil, provision: nil, key: "a"), flag(school: 1, pupil: 99, provision: nil, key: "b"),
            flag(school: 1, pupil: nil, provision: 99, key: "c"), alert(school: 99, pupil: nil, provision: nil, key: "a"),
            alert(school: 1, pupil: 99, provision: nil, key: "b"), alert(school: 1, pupil: 1, provision: 99, key: "c"),
        ])
        #expect(try await db.query("SELECT count(*) FROM evaluation_flags").scalar(as: Int.self) == 0)
        #expect(try await db.query("SELECT count(*) FROM alerts").scalar(as: Int.self) == 0)

        // Pupil 2 is named only by a flag, provision 1 only by an alert: each keeps its row.
        try await db.execute(flag(school: 1, pupil: 2, provision: nil, key: "p2"))
        try await db.execute(alert(school: 1, pupil: nil, provision: 1, key: "p1"))
        await expectRefused(db, [
            "DELETE FROM pupils WHERE id = 2", "DELETE FROM provisions WHERE id = 1", "TRUNCATE provisions CASCADE",
            "UPDATE provisions SET id = 5 WHERE id = 1", "UPDATE alerts SET provision_id = 99",
        ])
        // A provision nothing names can still go.
        #expect(try await db.execute("DELETE FROM provisions WHERE id = 2") == 1)
        #expect(try await db.query("SELECT count(*) FROM provisions").scalar(as: Int.self) == 1)
        #expect(try await db.query("SELECT count(*) FROM pupils").scalar(as: Int.self) == 2)
        await db.close()
    }

    /// A flag names a run that exists; deleting the run deletes its flags (the key's cascade);
    /// truncating or renumbering a run that flags name is refused.
    @Test func aFlagNamesARunThatExistsAndGoesWithIt() async throws {
        let (db, _) = try await database("refs-flag-run")
        let runs = try await db.query("INSERT INTO evaluation_runs (status) VALUES ('succeeded'), ('succeeded') RETURNING id")
            .rows.map { try $0.decode("id", as: Int.self) }
        try #require(runs.count == 2)
        func flags(run: Int, keys: [String]) -> String {
            "INSERT INTO evaluation_flags (evaluation_run_id, rule, school_id, subject_key, pupil_id, reason) VALUES "
                + keys.map { "(\(run), 'stalled_pupil', 1, '\($0)', 1, 'r')" }.joined(separator: ", ")
        }
        let missing = runs[1] + 1
        await expectRefused(db, [
            flags(run: missing, keys: ["a"]),
            // One row of several naming a missing run refuses the statement.
            "INSERT INTO evaluation_flags (evaluation_run_id, rule, school_id, subject_key, reason) "
                + "VALUES (\(runs[0]), 'stalled_pupil', 1, 'b', 'r'), (\(missing), 'stalled_pupil', 1, 'c', 'r')",
        ])
        #expect(try await db.query("SELECT count(*) FROM evaluation_flags").scalar(as: Int.self) == 0)

        try await db.execute(flags(run: runs[0], keys: ["a", "b"]))
        try await db.execute(flags(run: runs[1], keys: ["a"]))
        await expectRefused(db, [
            "UPDATE evaluation_flags SET evaluation_run_id = \(missing) WHERE subject_key = 'b'",
            "UPDATE evaluation_runs SET id = \(missing) WHERE id = \(runs[0])", "TRUNCATE evaluation_runs CASCADE",
        ])
        #expect(try await db.execute("DELETE FROM evaluation_runs WHERE id = $1", runs[0]) == 1)
        let left = try await db.query("SELECT evaluation_run_id AS run, count(*) AS n FROM evaluation_flags GROUP BY 1").rows
            .map { [try $0.decode("run", as: Int.self), try $0.decode("n", as: Int.self)] }
        #expect(left == [[runs[1], 1]])
        await db.close()
    }

    /// The race the run's key closed: a run deleted while another transaction adds flags to
    /// it waits for that transaction and then deletes its flags too; flags added to a run
    /// whose deletion has not committed wait, and are refused once it has.
    @Test func aRunsDeletionAndItsNewFlagsWaitForEachOther() async throws {
        let (db, url) = try await database("refs-flag-run-race")
        let run = try await db.query("INSERT INTO evaluation_runs (status) VALUES ('succeeded') RETURNING id").scalar(as: Int.self)
        let flag = "INSERT INTO evaluation_flags (evaluation_run_id, rule, school_id, subject_key, reason) VALUES (\(run), 'stalled_pupil', 1, 'a', 'r')"
        let first = try await PostgresConnection.connect(url)
        let second = try await PostgresConnection.connect(url)
        let secondPID = try await Self.processID(second)

        try await first.execute("BEGIN")
        try await first.execute(flag)
        let deletion = Task { try await second.execute("DELETE FROM evaluation_runs WHERE id = $1", run) }
        #expect(try await Self.waitsForALock(secondPID, seenBy: db), "the deletion did not wait for the flag's transaction")
        try await first.execute("COMMIT")
        #expect(try await deletion.value == 1)
        #expect(try await db.query("SELECT count(*) FROM evaluation_flags").scalar(as: Int.self) == 0)

        let again = try await db.query("INSERT INTO evaluation_runs (status) VALUES ('succeeded') RETURNING id").scalar(as: Int.self)
        try await first.execute("BEGIN")
        #expect(try await first.execute("DELETE FROM evaluation_runs WHERE id = $1", again) == 1)
        let adding = Task { try await second.execute(flag.replacingOccurrences(of: "(\(run),", with: "(\(again),")) }
        #expect(try await Self.waitsForALock(secondPID, seenBy: db), "the flag did not wait for the deletion's transaction")
        try await first.execute("COMMIT")
        let error = await #expect(throws: PostgresError.self) { try await adding.value }
        #expect(error?.sqlState == SQLState.foreignKeyViolation)
        #expect(try await db.query("SELECT count(*) FROM evaluation_flags").scalar(as: Int.self) == 0)
        await first.close()
        await second.close()
        await db.close()
    }

    /// An evaluation's outcomes name a run, enrolment, provision and school that exist
    /// (migration 31); deleting the run deletes them (the keys' cascade); what they name
    /// cannot be removed, emptied or renumbered while they name it.
    @Test func outcomesNameOnlyWhatExistsAndGoWithTheirRun() async throws {
        let (db, _) = try await database("refs-outcomes")
        try await db.execute("INSERT INTO schools (id, urn, name) VALUES (2, '100002', 'Other')")
        try await db.execute("INSERT INTO provisions (id, school_id, provision_id, name) VALUES (1, 1, 'P1', 'Reading'), (2, 1, 'P2', 'Talk'), (3, 1, 'P3', 'Maths')")
        try await db.execute("INSERT INTO enrolments (id, provision_id, pupil_id, start_date) VALUES (1, 1, 1, '2025-01-06'), (2, 2, 2, '2025-01-06')")
        let runs = try await db.query("INSERT INTO evaluation_runs (status) VALUES ('succeeded'), ('succeeded') RETURNING id")
            .rows.map { try $0.decode("id", as: Int.self) }
        try #require(runs.count == 2)
        let missing = runs[1] + 1
        func enrolmentOutcomes(run: Int, enrolments: [Int]) -> String {
            "INSERT INTO enrolment_outcomes (evaluation_run_id, enrolment_id, measure) VALUES "
                + enrolments.map { "(\(run), \($0), 'age_months')" }.joined(separator: ", ")
        }
        func provisionOutcome(run: Int, provision: Int?, school: Int?) -> String {
            """
            INSERT INTO provision_outcomes (evaluation_run_id, provision_id, school_id, programme, name, measure, n, verdict)
            VALUES (\(run), \(provision.map(String.init) ?? "NULL"), \(school.map(String.init) ?? "NULL"),
                    'Reading', 'Reading', 'age_months', 0, 'insufficient_data')
            """
        }
        func counts() async throws -> [[Int]] {
            try await db.query(
                """
                SELECT run, sum(enrolments)::int AS enrolments, sum(provisions)::int AS provisions FROM (
                    SELECT evaluation_run_id AS run, 1 AS enrolments, 0 AS provisions FROM enrolment_outcomes
                    UNION ALL SELECT evaluation_run_id, 0, 1 FROM provision_outcomes) o
                 GROUP BY run ORDER BY run
                """
            ).rows.map { [try $0.decode("run", as: Int.self), try $0.decode("enrolments", as: Int.self), try $0.decode("provisions", as: Int.self)] }
        }
        await expectRefused(db, [
            enrolmentOutcomes(run: missing, enrolments: [1]), enrolmentOutcomes(run: runs[0], enrolments: [99]),
            // One row of several naming a missing enrolment refuses the statement.
            enrolmentOutcomes(run: runs[0], enrolments: [1, 99]),
            provisionOutcome(run: missing, provision: 1, school: 1), provisionOutcome(run: runs[0], provision: 99, school: 1),
            provisionOutcome(run: runs[0], provision: 1, school: 99),
        ])
        #expect(try await counts() == [])

        try await db.execute(enrolmentOutcomes(run: runs[0], enrolments: [1]))
        // A programme's outcome names no provision and no school.
        try await db.execute(provisionOutcome(run: runs[0], provision: nil, school: nil))
        try await db.execute(enrolmentOutcomes(run: runs[1], enrolments: [1]))
        try await db.execute(provisionOutcome(run: runs[1], provision: 3, school: 2))
        #expect(try await counts() == [[runs[0], 1, 1], [runs[1], 1, 1]])
        await expectRefused(db, [
            "UPDATE enrolment_outcomes SET enrolment_id = 99", "UPDATE provision_outcomes SET school_id = 99 WHERE provision_id = 3",
            "UPDATE enrolment_outcomes SET evaluation_run_id = \(missing) WHERE evaluation_run_id = \(runs[0])",
            "DELETE FROM enrolments WHERE id = 1", "UPDATE enrolments SET id = 5 WHERE id = 1", "TRUNCATE enrolments CASCADE",
            // Provision 3 and school 2 are named by an outcome alone.
            "DELETE FROM provisions WHERE id = 3", "DELETE FROM schools WHERE id = 2", "TRUNCATE evaluation_runs CASCADE",
        ])
        #expect(try await counts() == [[runs[0], 1, 1], [runs[1], 1, 1]])
        // The evaluation's own updates, of the figures, are not references.
        #expect(try await db.execute("UPDATE enrolment_outcomes SET gain = 1, value_added = 0.5") == 2)
        #expect(try await db.execute("UPDATE provision_outcomes SET n = 3, school_id = 1 WHERE provision_id = 3") == 1)

        #expect(try await db.execute("DELETE FROM evaluation_runs WHERE id = $1", runs[0]) == 1)
        #expect(try await counts() == [[runs[1], 1, 1]])
        // What no outcome names can still go.
        #expect(try await db.execute("DELETE FROM enrolments WHERE id = 2") == 1)
        #expect(try await db.execute("DELETE FROM provisions WHERE id = 2") == 1)
        await db.close()
    }

    /// A run deleted while another transaction adds outcomes to it waits for that transaction,
    /// then deletes them too, as the run's key made it.
    @Test func aRunsDeletionWaitsForItsNewOutcomes() async throws {
        let (db, url) = try await database("refs-outcome-run-race")
        try await db.execute("INSERT INTO provisions (id, school_id, provision_id, name) VALUES (1, 1, 'P1', 'Reading')")
        try await db.execute("INSERT INTO enrolments (id, provision_id, pupil_id, start_date) VALUES (1, 1, 1, '2025-01-06')")
        let run = try await db.query("INSERT INTO evaluation_runs (status) VALUES ('succeeded') RETURNING id").scalar(as: Int.self)
        let adding = try await PostgresConnection.connect(url)
        let deleting = try await PostgresConnection.connect(url)
        let deletingPID = try await Self.processID(deleting)
        try await adding.execute("BEGIN")
        try await adding.execute("INSERT INTO enrolment_outcomes (evaluation_run_id, enrolment_id, measure) VALUES (\(run), 1, 'age_months')")
        let deletion = Task { try await deleting.execute("DELETE FROM evaluation_runs WHERE id = $1", run) }
        #expect(try await Self.waitsForALock(deletingPID, seenBy: db), "the deletion did not wait for the outcome's transaction")
        try await adding.execute("COMMIT")
        #expect(try await deletion.value == 1)
        #expect(try await db.query("SELECT count(*) FROM enrolment_outcomes").scalar(as: Int.self) == 0)
        await adding.close()
        await deleting.close()
        await db.close()
    }

    /// The race a foreign key's row lock closes: a removal must not slip past a result added
    /// by a transaction that has not committed yet. The removal waits for it, then refuses.
    @Test func aRemovalWaitsForAnUncommittedResultAndThenRefuses() async throws {
        let (db, url) = try await database("refs-race")
        let adding = try await PostgresConnection.connect(url)
        let removing = try await PostgresConnection.connect(url)
        try await adding.execute("BEGIN")
        try await adding.execute(Self.insertResult(pupil: 2, school: 1, on: "2025-02-15"))
        let removingPID = try await Self.processID(removing)
        let removal = Task { try await removing.execute("DELETE FROM pupils WHERE id = 2") }
        #expect(try await Self.waitsForALock(removingPID, seenBy: db), "the removal did not wait for the open transaction's lock")
        try await adding.execute("COMMIT")
        let error = await #expect(throws: PostgresError.self) { try await removal.value }
        #expect(error?.sqlState == SQLState.foreignKeyViolation)
        #expect(try await db.query("SELECT count(*) FROM pupils WHERE id = 2").scalar(as: Int.self) == 1)
        #expect(try await resultCount(db) == 2)
        await adding.close()
        await removing.close()
        await db.close()
    }

    private static func insertNeed(pupil: Int, code: String = "SPLD") -> String {
        "INSERT INTO pupil_needs (pupil_id, code, rank) VALUES (\(pupil), '\(code)', 1)"
    }

    private func needCount(_ db: PostgresConnection) async throws -> Int {
        try await db.query("SELECT count(*) FROM pupil_needs").scalar(as: Int.self)
    }

    @Test func aNeedNamingAMissingPupilIsRefusedWithEveryRowOfItsStatement() async throws {
        let (db, _) = try await database("refs-needs")
        try await db.execute(Self.insertNeed(pupil: 2))
        await expectRefused(db, [
            Self.insertNeed(pupil: 99),
            "INSERT INTO pupil_needs (pupil_id, code, rank) VALUES (1, 'SPLD', 1), (99, 'MLD', 2)",
            "UPDATE pupil_needs SET pupil_id = 99",
        ])
        #expect(try await needCount(db) == 1)
        #expect(try await db.query("SELECT pupil_id FROM pupil_needs").scalar(as: Int.self) == 2)
        // Refused by the statement's check (the foreign key, row by row, is gone).
        let error = await #expect(throws: PostgresError.self) { try await db.execute(Self.insertNeed(pupil: 98)) }
        #expect(error?.message.contains("a need names pupil 98, which does not exist") == true, "\(error?.message ?? "")")
        await db.close()
    }

    @Test func removingAPupilRemovesTheirNeedsAndEmptyingThePupilsIsRefusedWhileNeedsRemain() async throws {
        let (db, _) = try await database("refs-needs-removed")
        try await db.execute(Self.insertNeed(pupil: 1))
        try await db.execute(Self.insertNeed(pupil: 2))
        try await db.execute(Self.insertNeed(pupil: 2, code: "SEMH"))
        #expect(try await db.execute("DELETE FROM pupils WHERE id = 2") == 1)
        #expect(try await db.query("SELECT string_agg(pupil_id || code, ',') FROM pupil_needs").scalar(as: String.self) == "1SPLD")
        // Without results to keep them, the pupils could be emptied but for the need (the
        // tables whose keys name pupils go with them under CASCADE; the needs have none).
        try await db.execute("DELETE FROM assessments")
        await expectRefused(db, ["TRUNCATE pupils CASCADE"])
        #expect(try await needCount(db) == 1)
        #expect(try await db.query("SELECT count(*) FROM pupils").scalar(as: Int.self) == 1)
        await db.close()
    }

    /// The race the key's row lock closed: a removal of a pupil waits for their need being
    /// written by an open transaction and then removes it; a need written while a removal is
    /// open waits for it and then finds its pupil gone.
    @Test func aRemovalAndANewNeedOfItsPupilWaitForEachOther() async throws {
        let (db, url) = try await database("refs-needs-race")
        let adding = try await PostgresConnection.connect(url)
        let removing = try await PostgresConnection.connect(url)
        let addingPID = try await Self.processID(adding)
        let removingPID = try await Self.processID(removing)

        try await adding.execute("BEGIN")
        try await adding.execute(Self.insertNeed(pupil: 2))
        let removal = Task { try await removing.execute("DELETE FROM pupils WHERE id = 2") }
        #expect(try await Self.waitsForALock(removingPID, seenBy: db), "the removal did not wait for the need's transaction")
        try await adding.execute("COMMIT")
        #expect(try await removal.value == 1)
        #expect(try await needCount(db) == 0, "the need written meanwhile went with its pupil")

        try await db.execute("INSERT INTO pupils (id, upn, school_id, surname, forename, dob) VALUES (3, 'C801200100003', 1, 'S', 'F', '2015-01-01')")
        try await removing.execute("BEGIN")
        #expect(try await removing.execute("DELETE FROM pupils WHERE id = 3") == 1)
        let need = Task { try await adding.execute(Self.insertNeed(pupil: 3)) }
        #expect(try await Self.waitsForALock(addingPID, seenBy: db), "the need did not wait for the removal's transaction")
        try await removing.execute("COMMIT")
        let error = await #expect(throws: PostgresError.self) { try await need.value }
        #expect(error?.sqlState == SQLState.foreignKeyViolation)
        #expect(try await needCount(db) == 0)
        await adding.close()
        await removing.close()
        await db.close()
    }

    /// The server process of `connection`, asked before it is busy: a waiting statement
    /// holds the connection.
    private static func processID(_ connection: PostgresConnection) async throws -> Int {
        try await connection.query("SELECT pg_backend_pid()").scalar(as: Int.self)
    }

    /// Whether server process `pid` comes to wait for a lock, as `db` sees it, within two minutes.
    private static func waitsForALock(_ pid: Int, seenBy db: PostgresConnection) async throws -> Bool {
        try await eventually {
            try await db.query("SELECT coalesce(wait_event_type = 'Lock', false) FROM pg_stat_activity WHERE pid = $1", pid)
                .scalar(as: Bool.self)
        }
    }
}
