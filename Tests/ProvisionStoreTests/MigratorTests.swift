import Foundation
import Postgres
import ProvisionStore
import ProvisionTestSupport
import Testing

@Suite("migrations")
struct MigratorTests {
    @Test func freshDatabaseGetsEverySchemaTableAndReRunIsANoOp() async throws {
        let (db, _) = try await TestPostgres.shared.freshConnection("migrate")
        let applied = try await Migrator().migrate(db)
        #expect(applied.map(\.version) == Migration.all.map(\.version))
        let tables = try await db.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1"
        ).rows.map { try $0.decode("table_name", as: String.self) }
        for table in [
            "schools", "pupils", "pupil_needs", "assessments", "results", "result_tests", "staff", "provisions", "provision_staff",
            "enrolments", "import_runs", "rejected_records", "jobs", "evaluation_runs", "evaluation_flags",
            "alerts", "mail_outbox", "schema_migrations",
        ] {
            #expect(tables.contains(table), "missing table \(table)")
        }
        #expect(try await Migrator().migrate(db).isEmpty)
        let status = try await Migrator().status(db)
        #expect(status.allSatisfy { $0.appliedAt != nil })
        await db.close()
    }

    @Test func statusOnAnEmptyDatabaseShowsEverythingPending() async throws {
        let (db, _) = try await TestPostgres.shared.freshConnection("status")
        let status = try await Migrator().status(db)
        #expect(status.count == Migration.all.count)
        #expect(status.allSatisfy { $0.appliedAt == nil })
        await db.close()
    }

    @Test func anEditedAppliedMigrationIsRefused() async throws {
        let (db, _) = try await TestPostgres.shared.freshConnection("edited")
        let original = Migration(version: 1, name: "first", sql: "CREATE TABLE a (x int)")
        try await Migrator(migrations: [original]).migrate(db)
        let edited = Migration(version: 1, name: "first", sql: "CREATE TABLE a (x bigint)")
        let later = Migration(version: 2, name: "second", sql: "CREATE TABLE b (y int)")
        let error = await #expect(throws: MigrationError.self) {
            try await Migrator(migrations: [edited, later]).migrate(db)
        }
        #expect(error?.message.contains("Migration 1 (first) was edited") == true)
        // Nothing after the refusal was applied.
        #expect(try await db.query("SELECT to_regclass('b') IS NULL").scalar(as: Bool.self))
        await db.close()
    }

    @Test func aDatabaseFromANewerProgramIsRefused() async throws {
        let (db, _) = try await TestPostgres.shared.freshConnection("newer")
        let first = Migration(version: 1, name: "first", sql: "CREATE TABLE a (x int)")
        let second = Migration(version: 2, name: "second", sql: "CREATE TABLE b (x int)")
        try await Migrator(migrations: [first, second]).migrate(db)
        let error = await #expect(throws: MigrationError.self) {
            try await Migrator(migrations: [first]).migrate(db)
        }
        #expect(error?.message.contains("newer version") == true)
        await db.close()
    }

    @Test func aFailingMigrationLeavesNothingHalfApplied() async throws {
        let (db, _) = try await TestPostgres.shared.freshConnection("failing")
        let good = Migration(version: 1, name: "good", sql: "CREATE TABLE a (x int)")
        let bad = Migration(version: 2, name: "bad", sql: "CREATE TABLE half (x int); SELECT no_such_function();")
        await #expect(throws: PostgresError.self) { try await Migrator(migrations: [good, bad]).migrate(db) }
        #expect(try await db.query("SELECT to_regclass('a') IS NOT NULL").scalar(as: Bool.self))
        #expect(try await db.query("SELECT to_regclass('half') IS NULL").scalar(as: Bool.self))
        #expect(try await db.query("SELECT count(*) FROM schema_migrations").scalar(as: Int.self) == 1)
        // The advisory lock was released: another migrate can run.
        #expect(try await Migrator(migrations: [good]).migrate(db).isEmpty)
        await db.close()
    }

    @Test func twoProcessesMigratingAtOnceApplyEachMigrationOnce() async throws {
        let url = try await TestPostgres.shared.freshDatabase("concurrent")
        let folder = try TestProcess.temporaryDirectory("migrate")
        let config = try TestProcess.writeConfig(in: folder, databaseURL: url)
        let program = TestProcess.executable("provisionctl")
        async let first = TestProcess.run(program, ["--config", config, "db", "migrate"])
        async let second = TestProcess.run(program, ["--config", config, "db", "migrate"])
        let results = try await [first, second]
        #expect(results.map(\.exitCode) == [0, 0], "\(results.map(\.standardError))")
        let appliedLines = results.map { $0.standardOutput.components(separatedBy: "Applied 0001").count - 1 }
        #expect(appliedLines.sorted() == [0, 1])
        let db = try await PostgresConnection.connect(url)
        #expect(try await db.query("SELECT count(*) FROM schema_migrations").scalar(as: Int.self) == Migration.all.count)
        await db.close()
    }

    /// Migration 22 gives the duplicated-provision alerts already raised the subject the
    /// rule now keys them by, so they carry on rather than being opened again as new.
    @Test func duplicateAlertsGetTheirSubjectInTheirKey() async throws {
        let (db, _) = try await TestPostgres.shared.freshConnection("duplicate-keys")
        let before = Array(Migration.all.prefix { $0.version < 22 })
        try await Migrator(migrations: before).migrate(db)
        let (school, pupil) = try await Self.schoolWithPupil(db)
        try await db.execute(
            """
            INSERT INTO provisions (school_id, provision_id, name, outcome_instrument, outcome_subject, outcome_measure)
            VALUES ($1, 'READ-A', 'A', 'Salford', 'reading', 'age_months'), ($1, 'READ-B', 'B', 'Salford', 'reading', 'age_months')
            """, school)
        for (rule, key, status) in [
            ("duplicated_provision", "duplicate:A123456789012:Salford:age_months", "open"),
            ("need_without_provision", "need:A123456789012", "open"),
        ] {
            try await db.execute(
                """
                INSERT INTO alerts (rule, school_id, subject_key, pupil_id, status, reason, numbers)
                VALUES ($1, $2, $3, $4, $5, 'r', '{"provisions": ["READ-A", "READ-B"]}')
                """, rule, school, key, pupil, status)
        }
        try await Migrator().migrate(db)
        let keys = try await db.query("SELECT subject_key FROM alerts ORDER BY rule").rows.map { try $0.decode("subject_key", as: String.self) }
        #expect(keys == ["duplicate:A123456789012:Salford:reading:age_months", "need:A123456789012"])
        await db.close()
    }

    /// Migration 23 keys results by their natural key: the results already stored keep
    /// every value, the id is gone, a second result with the same key is refused by the
    /// primary key (and merged by an upsert naming it), and a result naming a pupil who does
    /// not exist is still refused, by pupil and date.
    @Test func resultsKeepTheirRowsAndAreKeyedByTheirNaturalKey() async throws {
        let (db, _) = try await TestPostgres.shared.freshConnection("results-natural-key")
        try await Migrator(migrations: Array(Migration.all.prefix { $0.version < 23 })).migrate(db)
        let (school, pupil) = try await Self.schoolWithPupil(db)
        let insert = """
            INSERT INTO assessments (pupil_id, school_id, instrument, subject, measure, value, assessed_on)
            VALUES ($1, $2, 'Salford', 'reading', 'age_months', $3, $4::date)
            """
        try await db.execute(insert, pupil, school, 80, "2025-01-15")
        try await db.execute(insert, pupil, school, 86.5, "2025-06-15")
        // Up to migration 32, which keys results by test (its own test below).
        try await Migrator(migrations: Array(Migration.all.prefix { $0.version < 32 })).migrate(db)

        let stored = try await db.query("SELECT value::text || '@' || assessed_on::text AS row FROM assessments ORDER BY assessed_on")
            .rows.map { try $0.decode("row", as: String.self) }
        #expect(stored == ["80@2025-01-15", "86.5@2025-06-15"])
        let columns = try await Self.columns(of: "assessments", db)
        #expect(columns == "pupil_id,school_id,instrument,subject,measure,value,assessed_on,import_run_id")
        let key = try await Self.primaryKey(of: "assessments", db)
        #expect(key == "pupil_id,instrument,subject,measure,assessed_on")

        let repeated = await #expect(throws: PostgresError.self) { try await db.execute(insert, pupil, school, 90, "2025-06-15") }
        #expect(repeated?.sqlState == SQLState.uniqueViolation)
        try await db.execute(insert + " ON CONFLICT (pupil_id, instrument, subject, measure, assessed_on) DO UPDATE SET value = EXCLUDED.value",
                             pupil, school, 90, "2025-06-15")
        #expect(try await db.query("SELECT value::text AS v FROM assessments WHERE assessed_on = '2025-06-15'").scalar(as: String.self) == "90")
        let orphan = await #expect(throws: PostgresError.self) { try await db.execute(insert, pupil + 99, school, 70, "2025-09-15") }
        #expect(orphan?.sqlState == SQLState.foreignKeyViolation)
        #expect(orphan?.message.contains("a result of 2025-09-15 names pupil \(pupil + 99)") == true, "\(orphan?.message ?? "")")
        await db.close()
    }

    /// Migration 32 keys results by test: the stored results keep every value and read the
    /// same through the view `assessments`, each test is listed once, no school's data version
    /// moves (the evaluation's stored outcomes still hold), and the table's key is (pupil,
    /// test, date). The view takes an insert naming a new test, an update and a delete; a
    /// test is never removed.
    @Test func resultsAreKeyedByTestAndReadTheSameThroughTheView() async throws {
        let (db, _) = try await TestPostgres.shared.freshConnection("results-by-test")
        try await Migrator(migrations: Array(Migration.all.prefix { $0.version < 32 })).migrate(db)
        let (school, pupil) = try await Self.schoolWithPupil(db)
        try await db.execute(
            """
            INSERT INTO assessments (pupil_id, school_id, instrument, subject, measure, value, assessed_on)
            VALUES ($1, $2, 'Salford', 'reading', 'age_months', 80, '2025-01-15'),
                   ($1, $2, 'Salford', 'reading', 'age_months', 86.5, '2025-06-15'),
                   ($1, $2, 'NGRT', 'reading', 'standardised', 95, '2025-06-15')
            """, pupil, school)
        func shown() async throws -> [String] {
            try await db.query(
                """
                SELECT instrument || ' ' || subject || ' ' || measure || ' ' || value::text || '@' || assessed_on::text AS row
                  FROM assessments ORDER BY instrument, assessed_on
                """
            ).rows.map { try $0.decode("row", as: String.self) }
        }
        func version() async throws -> Int64 { try await db.query("SELECT data_version FROM schools").scalar(as: Int64.self) }
        let (before, versionBefore) = (try await shown(), try await version())
        #expect(before.count == 3)
        try await Migrator().migrate(db)

        #expect(try await shown() == before)
        #expect(try await version() == versionBefore)
        #expect(try await db.query("SELECT count(*) FROM result_tests").scalar(as: Int.self) == 2)
        let columns = try await Self.columns(of: "results", db)
        #expect(columns == "pupil_id,school_id,value,assessed_on,import_run_id,test_id")
        let key = try await Self.primaryKey(of: "results", db)
        #expect(key == "pupil_id,test_id,assessed_on")

        try await db.execute(
            """
            INSERT INTO assessments (pupil_id, school_id, instrument, subject, measure, value, assessed_on)
            VALUES ($1, $2, 'Salford', 'spelling', 'age_months', 70, '2025-09-15')
            """, pupil, school)
        try await db.execute("UPDATE assessments SET value = 81 WHERE assessed_on = '2025-01-15'")
        try await db.execute("DELETE FROM assessments WHERE instrument = 'NGRT'")
        #expect(try await shown() == [
            "Salford reading age_months 81@2025-01-15", "Salford reading age_months 86.5@2025-06-15",
            "Salford spelling age_months 70@2025-09-15",
        ])
        #expect(try await db.query("SELECT count(*) FROM result_tests").scalar(as: Int.self) == 3)
        #expect(try await version() > versionBefore)
        for removal in ["DELETE FROM result_tests", "UPDATE result_tests SET subject = 'x'", "TRUNCATE result_tests"] {
            let error = await #expect(throws: PostgresError.self) { try await db.execute(removal) }
            #expect(error?.sqlState == SQLState.foreignKeyViolation, "\(removal)")
        }
        await db.close()
    }

    /// Migration 24 looks each inserted result's pupil up by key: one statement of results for
    /// several pupils still refuses a result whose pupil does not exist, naming it, and raises
    /// the version of each pupil's school and of the school the results are filed under.
    @Test func insertedResultsLookTheirPupilsUpOneByOne() async throws {
        let (db, _) = try await TestPostgres.shared.freshConnection("result-pupils-looked-up")
        try await Migrator().migrate(db)
        let schools = try await db.query("INSERT INTO schools (urn, name) VALUES ('139001', 'A'), ('139002', 'B'), ('139003', 'C') RETURNING id")
            .rows.map { try $0.decode("id", as: Int64.self) }
        let pupils = try await db.query(
            """
            INSERT INTO pupils (upn, school_id, surname, forename, dob)
            VALUES ('A123456789012', $1, 'S', 'F', '2016-05-01'), ('B123456789012', $2, 'S', 'F', '2016-05-01') RETURNING id
            """, schools[0], schools[1]
        ).rows.map { try $0.decode("id", as: Int64.self) }
        func versions() async throws -> [Int64] {
            try await db.query("SELECT data_version FROM schools ORDER BY id").rows.map { try $0.decode("data_version", as: Int64.self) }
        }
        let insert = """
            INSERT INTO assessments (pupil_id, school_id, instrument, subject, measure, value, assessed_on)
            SELECT p, $2, 'Salford', 'reading', 'age_months', 80, d FROM unnest($1::bigint[]) AS p, unnest($3::date[]) AS d
            """
        let before = try await versions()
        let orphan = await #expect(throws: PostgresError.self) {
            try await db.execute(insert, [pupils[0], pupils[1] + 99, pupils[1]].map(String.init), schools[2], ["2025-01-15"])
        }
        #expect(orphan?.sqlState == SQLState.foreignKeyViolation)
        #expect(orphan?.message.contains("names pupil \(pupils[1] + 99)") == true, "\(orphan?.message ?? "")")
        #expect(try await versions() == before, "the refused statement raised nothing")
        try await db.execute(insert, [pupils[0], pupils[1]].map(String.init), schools[2], ["2025-01-15", "2025-03-15"])
        #expect(try await db.query("SELECT count(*) FROM assessments").scalar(as: Int.self) == 4)
        let after = try await versions()
        #expect(zip(after, before).allSatisfy { $0 > $1 }, "both pupils' schools and the filing school: \(before) → \(after)")
        await db.close()
    }

    /// A school's pupils, on roll or not, are found through an index (migration 18): an import
    /// lists every pupil of its schools, and a partial index of those on roll left it reading
    /// the whole table, one school's share of which shrinks as a deployment grows.
    @Test func aSchoolsPupilsOnRollOrNotAreFoundThroughAnIndex() async throws {
        let (db, _) = try await TestPostgres.shared.freshConnection("pupils-by-school")
        try await Migrator().migrate(db)
        try await db.execute("INSERT INTO schools (id, urn, name) VALUES (1, '100001', 'School'), (2, '100002', 'Other')")
        try await db.execute(
            """
            INSERT INTO pupils (upn, school_id, surname, forename, dob, on_roll)
            SELECT 'A8012001' || lpad(n::text, 5, '0'), 1 + n % 2, 'S', 'F', '2015-01-01', n % 3 > 0
              FROM generate_series(1, 300) AS n
            """)
        try await db.execute("ANALYZE pupils")
        // Told that reading the table costs more than anything, the planner still reads it
        // when no index can answer.
        try await db.execute("SET enable_seqscan = off")
        let everyPupil = try await Self.plan(db, "SELECT id FROM pupils WHERE school_id = 1")
        #expect(everyPupil.contains("pupils_by_school") && !everyPupil.contains("Seq Scan"), "\(everyPupil)")
        let onRoll = try await Self.plan(db, "SELECT id FROM pupils WHERE school_id = 1 AND on_roll")
        #expect(onRoll.contains("pupils_by_school") && onRoll.contains("on_roll = true"), "\(onRoll)")
        #expect(try await db.query("SELECT count(*) FROM pupils WHERE school_id = 1").scalar(as: Int.self) == 150)
        await db.close()
    }

    /// The provisions and enrolments a SENCO edited are found through partial indexes of
    /// those rows alone (migration 25): every provision map's import asks for them, and
    /// without the indexes the planner read both whole tables, every school's rows, each time.
    @Test func consoleEditsAreFoundWithoutReadingEveryRow() async throws {
        let (db, _) = try await TestPostgres.shared.freshConnection("console-edits-indexed")
        try await Migrator().migrate(db)
        try await db.execute("INSERT INTO schools (id, urn, name) VALUES (1, '100001', 'School')")
        try await db.execute(
            """
            INSERT INTO pupils (id, upn, school_id, surname, forename, dob)
            SELECT n, 'A8012001' || lpad(n::text, 5, '0'), 1, 'S', 'F', '2015-01-01' FROM generate_series(1, 200) AS n
            """)
        try await db.execute(
            """
            INSERT INTO provisions (id, school_id, provision_id, name, edited_in_console)
            SELECT n, 1, 'P' || n, 'Group ' || n, CASE WHEN n = 7 THEN now() END FROM generate_series(1, 40) AS n
            """)
        try await db.execute(
            """
            INSERT INTO enrolments (provision_id, pupil_id, start_date, edited_in_console)
            SELECT 1 + n % 40, n, '2026-09-01', CASE WHEN n = 9 THEN now() END FROM generate_series(1, 200) AS n
            """)
        try await db.execute("ANALYZE provisions, enrolments")
        try await db.execute("SET enable_seqscan = off")
        let provisions = try await Self.plan(db, "SELECT id FROM provisions WHERE edited_in_console IS NOT NULL")
        #expect(provisions.contains("provisions_edited_in_console") && !provisions.contains("Seq Scan"), "\(provisions)")
        let enrolments = try await Self.plan(db, "SELECT id FROM enrolments WHERE edited_in_console IS NOT NULL")
        #expect(enrolments.contains("enrolments_edited_in_console") && !enrolments.contains("Seq Scan"), "\(enrolments)")
        #expect(try await db.query("SELECT provision_id FROM provisions WHERE edited_in_console IS NOT NULL").scalar(as: String.self) == "P7")
        #expect(try await db.query("SELECT pupil_id FROM enrolments WHERE edited_in_console IS NOT NULL").scalar(as: Int64.self) == 9)
        await db.close()
    }

    /// Pupils' names and UPNs are kept out of the planner's statistics (migration 28): what
    /// an earlier analysis sampled of them is removed, a later one samples none, the columns
    /// plans filter on are still sampled, and a UPN is still known to be one pupil.
    @Test func pupilNamesAndUPNsAreNotSampledIntoStatistics() async throws {
        let (db, _) = try await TestPostgres.shared.freshConnection("identifiers-not-sampled")
        try await Migrator(migrations: Array(Migration.all.prefix { $0.version < 28 })).migrate(db)
        try await db.execute("INSERT INTO schools (id, urn, name) VALUES (1, '100001', 'School')")
        func addPupils(_ range: ClosedRange<Int>) async throws {
            try await db.execute(
                """
                INSERT INTO pupils (upn, school_id, surname, forename, dob, year_group)
                SELECT 'A8012001' || lpad(n::text, 5, '0'), 1, 'Surname' || n, 'Forename' || n, DATE '2015-01-01' + n % 300, (n % 6)::text
                  FROM generate_series($1::int, $2::int) AS n
                """, range.lowerBound, range.upperBound)
            try await db.execute("ANALYZE pupils")
        }
        func sampled() async throws -> [String] {
            try await db.query("SELECT attname::text AS name FROM pg_stats WHERE tablename = 'pupils' AND schemaname = 'public' ORDER BY 1")
                .rows.map { try $0.decode("name", as: String.self) }
        }
        let identifying = ["forename", "import_run_id", "marked_left_at", "surname", "upn", "updated_at", "upn_warning"]
        try await addPupils(1...400)
        let before = try await sampled()
        #expect(Set(identifying).isSubset(of: before), "before: \(before)")

        try await Migrator().migrate(db)
        let migrated = try await sampled()
        #expect(Set(identifying).isDisjoint(with: migrated), "after migrating: \(migrated)")
        try await addPupils(401...800)
        let after = try await sampled()
        #expect(Set(identifying).isDisjoint(with: after), "after analysing again: \(after)")
        #expect(Set(["dob", "id", "on_roll", "school_id", "sen_provision", "year_group"]).isSubset(of: after), "\(after)")
        let byUPN = try await Self.plan(db, "SELECT id FROM pupils WHERE upn = 'A801200100007'")
        #expect(byUPN.contains("pupils_upn_key") && byUPN.contains("rows=1 "), "\(byUPN)")
        await db.close()
    }

    /// The plan the server would choose for `query`, as EXPLAIN prints it.
    static func plan(_ db: PostgresConnection, _ query: String) async throws -> String {
        try await db.query("EXPLAIN " + query).rows.map { try $0.decode("QUERY PLAN", as: String.self) }.joined(separator: "\n")
    }

    /// School 139001 with pupil A123456789012: their ids.
    private static func schoolWithPupil(_ db: PostgresConnection) async throws -> (school: Int64, pupil: Int64) {
        let school = try await db.query("INSERT INTO schools (urn, name) VALUES ('139001', 'S') RETURNING id").scalar(as: Int64.self)
        let pupil = try await db.query(
            """
            INSERT INTO pupils (upn, school_id, surname, forename, dob) VALUES ('A123456789012', $1, 'S', 'F', '2016-05-01') RETURNING id
            """, school
        ).scalar(as: Int64.self)
        return (school, pupil)
    }

    /// `table`'s columns, comma-separated in order.
    private static func columns(of table: String, _ db: PostgresConnection) async throws -> String {
        try await db.query(
            """
            SELECT string_agg(column_name::text, ',' ORDER BY ordinal_position) AS names
              FROM information_schema.columns WHERE table_name = $1
            """, table
        ).scalar(as: String.self)
    }

    /// The columns of `table`'s primary key, comma-separated in order.
    private static func primaryKey(of table: String, _ db: PostgresConnection) async throws -> String {
        try await db.query(
            """
            SELECT string_agg(a.attname::text, ',' ORDER BY k.n) AS names
              FROM pg_constraint c CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k (attnum, n)
              JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
             WHERE c.conrelid = $1::regclass AND c.contype = 'p'
            """, table
        ).scalar(as: String.self)
    }
}
