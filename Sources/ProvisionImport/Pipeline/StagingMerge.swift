import Postgres
import ProvisionModel

/// What a merge changed, for the run's summary.
public struct MergeStatistics: Sendable, Equatable {
    /// Rows inserted and updated, by table.
    public var inserted: [String: Int] = [:]
    /// Rows updated, by table.
    public var updated: [String: Int] = [:]
    /// Pupils of the bound schools missing from a snapshot, marked as left.
    public var markedLeft = 0
    /// Records that referred to a pupil, provision or staff member that does not exist.
    public var rejectedAtMerge = 0
    /// Records whose natural key appeared more than once in the run (the last one is kept).
    public var duplicates = 0
    /// Results and pupils already stored exactly as their records say, so not staged or
    /// merged (``StoredRecords``).
    public var alreadyStored = 0
    /// Records rejected at merge, by record type.
    public var rejectedAtMergeByType: [String: Int] = [:]
    /// Why records were rejected at merge, with how many.
    public var reasons: [String] = []
    /// Bound schools whose leavers were not marked this run, because a pupil record for the
    /// school was rejected without a usable UPN (it might have been any of its pupils).
    public var leaversWithheld: [String] = []

    /// Pupils and results written straight into their tables during the stream
    /// (``DirectWrites``), counted in ``inserted`` as well.
    public var writtenDirectly = 0

    /// Provision and enrolment records left unapplied because a SENCO edited the row in the
    /// console and the import disagrees (recorded as warnings).
    public var keptConsoleEdits = 0

    /// Rows the merge inserted, updated or marked as left.
    public var changedRows: Int { inserted.values.reduce(0, +) + updated.values.reduce(0, +) + markedLeft }
}

/// A snapshot would mark more of a school's pupils as left than `plugins.max_leavers`
/// allows: the run is refused and nothing is written (run again with `--force`).
struct MassLeaversRefused: Error, CustomStringConvertible {
    let schoolURN: String
    let leaving: Int
    let onRoll: Int
    let maxShare: Double

    var description: String {
        let share = onRoll == 0 ? 0 : Double(leaving) / Double(onRoll) * 100
        return "this snapshot would mark \(leaving) of the \(onRoll) pupils on roll at school \(schoolURN) as left "
            + "(\(String(format: "%.1f", share))%), more than the \(String(format: "%g", maxShare * 100))% plugins.max_leavers "
            + "allows; nothing was imported. If the export is complete and they really left, import it again with --force."
    }
}

/// Turns staged records into rows of the normalised tables, in set-based SQL, inside the
/// caller's transaction.
///
/// School boundaries hold: a source changes only pupils whose current school is one it is
/// bound to (or who are on roll nowhere, so a joiner from another school of the trust is
/// taken over once that school has recorded them as left), and only assessments and
/// enrolments of such pupils. Records about a pupil on roll at another school are rejected
/// with the reason, and that pupil's row is left exactly as it was.
///
/// Every statement is an upsert by natural key whose UPDATE only fires when something
/// changed, so importing the same input twice changes nothing (not even the import run
/// stamp). Pupils are never deleted: a pupil of a bound school missing from a snapshot run
/// that carries pupil records is marked as left.
enum StagingMerge {
    /// Every record is staged as its canonical JSON, except results and pupils, nearly all of
    /// any large run: they go into typed columns, so the server parses no JSON for them and
    /// the merge extracts no fields (a second and a half of a million-record import). A
    /// pupil's `needs` stay JSON (an array), NULL when the record did not list them.
    static let createStaging = """
        CREATE TEMP TABLE import_staging (
            line           bigint NOT NULL,
            record_type    text NOT NULL,
            school_urn     text NOT NULL,
            doc            jsonb,
            upn            text,
            instrument     text,
            subject        text,
            measure        text,
            value          numeric,
            assessed_on    date,
            surname        text,
            forename       text,
            dob            date,
            gender         text,
            year_group     text,
            admission_date date,
            leaving_date   date,
            sen_provision  text,
            sen_start_date date,
            fsm            boolean,
            pupil_premium  boolean,
            eal            boolean,
            looked_after   boolean,
            upn_warning    text,
            needs          jsonb,
            CHECK (CASE record_type
                   WHEN 'assessment' THEN doc IS NULL AND upn IS NOT NULL AND instrument IS NOT NULL AND subject IS NOT NULL
                                          AND measure IS NOT NULL AND value IS NOT NULL AND assessed_on IS NOT NULL
                   WHEN 'pupil' THEN doc IS NULL AND upn IS NOT NULL AND surname IS NOT NULL AND forename IS NOT NULL
                                     AND dob IS NOT NULL
                   ELSE doc IS NOT NULL END)
        ) ON COMMIT DROP
        """

    /// The typed columns of results and of pupils, in the order of ``copyStaging``.
    private static let resultColumns = ["instrument", "subject", "measure", "value", "assessed_on"]
    private static let pupilColumns = PupilFields.columns + ["needs"]

    static let copyStaging = """
        COPY import_staging (line, record_type, school_urn, doc, upn, \((resultColumns + pupilColumns).joined(separator: ", "))) FROM STDIN
        """

    /// Appends the staging row of a validated record at `line` to `buffer` in COPY text
    /// format: the common columns, then the result columns, then the pupil columns. Written
    /// field by field: building each row as a list of values, encoding it on the
    /// connection's thread and freeing it was an eighth of the supervisor's time in a first
    /// import.
    static func appendStagingRow(line: Int, _ record: ValidRecord, to buffer: inout [UInt8]) {
        // The validator made every required one of these present and canonical; were one
        // missing, the staging table's check would fail the run rather than stage half a record.
        appendCommonColumns(line: line, type: record.type, school: record.schoolURN, to: &buffer)
        if let result = record.result {
            CopyText.appendField(nil, to: &buffer)
            CopyText.appendField(result.upn, to: &buffer)
            CopyText.appendField(result.instrument, to: &buffer)
            CopyText.appendField(result.subject, to: &buffer)
            CopyText.appendField(result.measure, to: &buffer)
            CopyText.appendField(result.valueText, to: &buffer)
            CopyText.appendField(result.date, to: &buffer)
            CopyText.appendNulls(pupilColumns.count, to: &buffer)
        } else if let pupil = record.pupil {
            CopyText.appendField(nil, to: &buffer)
            CopyText.appendField(pupil.upn, to: &buffer)
            CopyText.appendNulls(resultColumns.count, to: &buffer)
            for value in pupil.values { CopyText.appendField(value, to: &buffer) }
            CopyText.appendField(pupil.needsValue.map(\.serialized), to: &buffer)
        } else {
            CopyText.appendField(record.document, to: &buffer)
            CopyText.appendNulls(1 + resultColumns.count + pupilColumns.count, to: &buffer)
        }
        CopyText.endRow(&buffer)
    }

    /// The record type of the rows ``appendRejectedPupilRow(line:_:to:)`` stages; ``merge``
    /// takes their count under it in `staged`.
    static let rejectedPupilType = "rejected_pupil"

    /// Appends the staging row that marks a rejected pupil record at `line` (see
    /// ``RejectedPupil``) to `buffer`.
    static func appendRejectedPupilRow(line: Int, _ pupil: RejectedPupil, to buffer: inout [UInt8]) {
        let identity = JSONValue.object(["upn": pupil.upn.map(JSONValue.string) ?? .null]).serialized
        appendCommonColumns(line: line, type: rejectedPupilType, school: pupil.schoolURN ?? "", to: &buffer)
        CopyText.appendField(identity, to: &buffer)
        CopyText.appendNulls(1 + resultColumns.count + pupilColumns.count, to: &buffer)
        CopyText.endRow(&buffer)
    }

    private static func appendCommonColumns(line: Int, type: String, school: String, to buffer: inout [UInt8]) {
        CopyText.appendField(String(line), to: &buffer, first: true)
        CopyText.appendField(type, to: &buffer)
        CopyText.appendField(school, to: &buffer)
    }

    /// Adds the bound schools not yet stored, before the run stages or writes anything that
    /// refers to them, and returns every bound school's id by URN.
    static func insertBoundSchools(
        _ db: PostgresConnection, runID: Int64, schools: [(urn: String, name: String)]
    ) async throws -> [String: Int64] {
        try await db.execute(
            """
            INSERT INTO schools (urn, name, import_run_id)
            SELECT urn, name, $1 FROM unnest($2::text[], $3::text[]) AS bound (urn, name)
            ON CONFLICT (urn) DO NOTHING
            """, runID, schools.map(\.urn), schools.map(\.name))
        var ids: [String: Int64] = [:]
        for row in try await db.query("SELECT id, urn FROM schools WHERE urn = ANY($1::text[])", schools.map(\.urn)).rows {
            ids[try row.decode("urn", as: String.self)] = try row.decode("id", as: Int64.self)
        }
        return ids
    }

    /// Runs the merge, after ``insertBoundSchools(_:runID:schools:)``. `$1` in every
    /// statement is the import run id. `skippedPupils` tells the pupils whose records were not
    /// staged (``StoredRecords/recordSkippedPupils(_:_:listedUnchanged:)``): a snapshot lists
    /// them.
    ///
    /// - Parameters:
    ///   - staged: how many records of each type were staged (the validator's accepted
    ///     counts, less those ``StoredRecords`` kept out of staging), and under
    ///     ``rejectedPupilType`` how many rows of rejected pupil records.
    ///   - keysMayRepeat: the types among pupils and results whose staged records may repeat
    ///     a natural key (``StagedKeys``); the others are merged without sorting them by key.
    ///   - snapshotPupils: the run is a snapshot carrying pupil records, so pupils of the
    ///     bound schools missing from it are marked as left.
    ///   - maxLeavers: the share of a school's pupils on roll one snapshot may mark as left;
    ///     nil allows any (`--force`).
    ///   - consoleEdit: the records are a SENCO's edits in the console: the rows they write
    ///     are marked so that imports do not overwrite them (``keepConsoleEdits``).
    static func merge(
        _ db: PostgresConnection, runID: Int64, schools: [(urn: String, name: String)], staged: [String: Int],
        keysMayRepeat: Set<String>, snapshotPupils: Bool, skippedPupils: StoredRecords.SkippedPupils = .inTable,
        consoleEdit: Bool = false, maxLeavers: Double?
    ) async throws -> MergeStatistics {
        var stats = MergeStatistics()

        try await db.execute(
            """
            CREATE TEMP TABLE bound_school ON COMMIT DROP AS
            SELECT id, urn FROM schools WHERE urn = ANY($1::text[])
            """, schools.map(\.urn))
        try await db.execute("ANALYZE bound_school")

        // One row per natural key, the last line winning.
        let deduplicate: [(table: String, type: String, key: String)] = [
            ("staged_school", "school", "school_urn"),
            ("staged_staff", "staff", "school_urn, doc->>'staff_id'"),
            ("staged_provision", "provision", "school_urn, doc->>'provision_id'"),
            ("staged_enrolment", "enrolment", "school_urn, doc->>'provision_id', doc->>'upn', doc->>'start_date'"),
            ("staged_plan", "plan", "school_urn, doc->>'plan_ref'"),
        ]
        // Without statistics the planner takes the staging table for a few thousand rows and
        // hashes a million of them instead of the pupils.
        try await db.execute("ANALYZE import_staging")
        // A type the run does not carry gets an empty table without reading the staging table.
        for (table, type, key) in deduplicate {
            let present = staged[type, default: 0] > 0
            let kept = try await db.execute(
                """
                CREATE TEMP TABLE \(table) ON COMMIT DROP AS
                SELECT DISTINCT ON (\(key)) line, school_urn, doc FROM import_staging
                WHERE record_type = $1 ORDER BY \(key), line DESC
                \(present ? "" : "WITH NO DATA")
                """, type)
            stats.duplicates += staged[type, default: 0] - kept
            // Temporary tables get no statistics otherwise, and the planner then guesses badly.
            try await db.execute("ANALYZE \(table)")
        }
        let stagedPupils = staged["pupil", default: 0]
        let pupilsRepeat = keysMayRepeat.contains("pupil")
        // Each staged pupil's stored row, if any, is found here once, and the rules below
        // read it from the staged row instead of each looking the UPN up among the pupils of
        // the whole deployment again. Importing 250,000 new pupils into a deployment of
        // 3,250,000: staging them 2.3 s → 0.7–0.8 s, and the two rules up to 1.3 s → nothing.
        let keptPupils = try await db.execute(
            """
            CREATE TEMP TABLE staged_pupil ON COMMIT DROP AS
            SELECT \(pupilsRepeat ? "DISTINCT ON (s.upn)" : "") s.line, s.school_urn, s.upn, \(pupilColumns.map { "s.\($0)" }.joined(separator: ", ")),
                   p.id AS stored_id, p.school_id AS stored_school, p.on_roll AS stored_on_roll,
                   p.import_run_id = $1 AS written_directly
              FROM import_staging s LEFT JOIN pupils p ON p.upn = s.upn
             WHERE s.record_type = 'pupil' \(pupilsRepeat ? "ORDER BY s.upn, s.line DESC" : "")
            \(stagedPupils > 0 ? "" : "WITH NO DATA")
            """, runID)
        stats.duplicates += stagedPupils - keptPupils
        try await db.execute("ANALYZE staged_pupil")

        stats.updated["schools"] = try await db.execute(
            """
            UPDATE schools t
               SET laestab = coalesce(s.doc->>'laestab', t.laestab), name = coalesce(s.doc->>'name', t.name),
                   phase = coalesce(s.doc->>'phase', t.phase), import_run_id = $1, updated_at = now()
              FROM staged_school s
             WHERE t.urn = s.school_urn
               AND (t.laestab, t.name, t.phase) IS DISTINCT FROM
                   (coalesce(s.doc->>'laestab', t.laestab), coalesce(s.doc->>'name', t.name), coalesce(s.doc->>'phase', t.phase))
            """, runID)

        try await rejectMissing(
            db, runID, &stats, table: "staged_pupil", type: "pupil",
            condition: "s.stored_on_roll AND s.stored_school NOT IN (SELECT id FROM bound_school)",
            reason: "pupil.upn is on roll at another school of the trust, which this source is not bound to; "
                + "the pupil was left unchanged (that school's MIS must record them as left first)")
        // A pupil first inserted by this run cannot have results yet, from this run or any
        // other (no other transaction can see the row): its results need no conflict check.
        try await db.execute("CREATE TEMP TABLE new_pupil (id bigint NOT NULL) ON COMMIT DROP")
        let insertPupils = """
            INSERT INTO pupils AS t (upn, school_id, surname, forename, dob, gender, year_group, admission_date,
                                     leaving_date, on_roll, marked_left_at, sen_provision, sen_start_date, fsm,
                                     pupil_premium, eal, looked_after, upn_warning, import_run_id, updated_at)
            SELECT s.upn, sc.id, s.surname, s.forename, s.dob, s.gender, s.year_group, s.admission_date, s.leaving_date,
                   s.leaving_date IS NULL OR s.leaving_date > current_date, NULL, coalesce(s.sen_provision, 'N'),
                   s.sen_start_date, s.fsm, s.pupil_premium, s.eal, s.looked_after, s.upn_warning, $1, now()
              FROM staged_pupil s JOIN schools sc ON sc.urn = s.school_urn
            """
        // A UPN the trust has never held is a plain insert: checking it for a conflict was a
        // third of inserting a school's pupils. Were another import to add the same UPN
        // meanwhile, the unique index fails this run, which its retry then merges.
        try await upsert(db, runID, &stats, table: "pupils", notingInsertedIn: "new_pupil", sql: insertPupils + " WHERE s.stored_id IS NULL")
        try await upsert(db, runID, &stats, table: "pupils", notingInsertedIn: "new_pupil", sql: insertPupils + """
             WHERE s.stored_id IS NOT NULL
            ON CONFLICT (upn) DO UPDATE SET
                   school_id = EXCLUDED.school_id, surname = EXCLUDED.surname, forename = EXCLUDED.forename,
                   dob = EXCLUDED.dob, gender = EXCLUDED.gender, year_group = EXCLUDED.year_group,
                   admission_date = EXCLUDED.admission_date, leaving_date = EXCLUDED.leaving_date,
                   on_roll = EXCLUDED.on_roll, marked_left_at = NULL, sen_provision = EXCLUDED.sen_provision,
                   sen_start_date = EXCLUDED.sen_start_date, fsm = EXCLUDED.fsm,
                   pupil_premium = EXCLUDED.pupil_premium, eal = EXCLUDED.eal,
                   looked_after = EXCLUDED.looked_after, upn_warning = EXCLUDED.upn_warning,
                   import_run_id = EXCLUDED.import_run_id, updated_at = now()
             WHERE (t.school_id, t.surname, t.forename, t.dob, t.gender, t.year_group, t.admission_date,
                    t.leaving_date, t.on_roll, t.marked_left_at IS NULL, t.sen_provision, t.sen_start_date, t.fsm,
                    t.pupil_premium, t.eal, t.looked_after, t.upn_warning)
                   IS DISTINCT FROM
                   (EXCLUDED.school_id, EXCLUDED.surname, EXCLUDED.forename, EXCLUDED.dob, EXCLUDED.gender,
                    EXCLUDED.year_group, EXCLUDED.admission_date, EXCLUDED.leaving_date, EXCLUDED.on_roll, true,
                    EXCLUDED.sen_provision, EXCLUDED.sen_start_date, EXCLUDED.fsm, EXCLUDED.pupil_premium,
                    EXCLUDED.eal, EXCLUDED.looked_after, EXCLUDED.upn_warning)
            """)
        try await db.execute("ANALYZE new_pupil")

        // Needs are replaced for pupils whose record lists them (a record without `needs`
        // leaves them alone: not every export carries them).
        try await db.execute(
            """
            CREATE TEMP TABLE wanted_needs ON COMMIT DROP AS
            SELECT p.id AS pupil_id, n->>'code' AS code, (n->>'rank')::int AS rank
              FROM staged_pupil s JOIN pupils p ON p.upn = s.upn
             CROSS JOIN LATERAL jsonb_array_elements(s.needs) AS n
             WHERE s.needs IS NOT NULL AND s.needs <> '[]'::jsonb
            """)
        // A pupil this run inserted has no needs yet. A pupil it wrote directly
        // (``DirectWrites``) has the needs of an earlier line, which a later one replaces
        // whole, as if the earlier line had never been.
        let removedNeeds = try await db.execute(
            """
            DELETE FROM pupil_needs pn USING staged_pupil s
             WHERE (s.needs IS NOT NULL OR s.written_directly) AND pn.pupil_id = s.stored_id
               AND NOT EXISTS (SELECT 1 FROM wanted_needs w WHERE w.pupil_id = pn.pupil_id AND w.code = pn.code)
            """)
        try await upsert(db, runID, &stats, table: "pupil_needs", sql: """
            INSERT INTO pupil_needs AS t (pupil_id, code, rank, import_run_id)
            SELECT pupil_id, code, rank, $1 FROM wanted_needs
            ON CONFLICT (pupil_id, code) DO UPDATE SET rank = EXCLUDED.rank, import_run_id = EXCLUDED.import_run_id
             WHERE t.rank IS DISTINCT FROM EXCLUDED.rank
            """)
        stats.updated["pupil_needs", default: 0] += removedNeeds

        if snapshotPupils {
            try await markLeavers(
                db, runID: runID, stats: &stats, rejectedPupils: staged[rejectedPupilType, default: 0], skipped: skippedPupils,
                maxLeavers: maxLeavers)
        }

        try await mergeAssessments(
            db, runID: runID, stats: &stats, staged: staged["assessment", default: 0],
            keysMayRepeat: keysMayRepeat.contains("assessment"))

        try await upsert(db, runID, &stats, table: "staff", sql: """
            INSERT INTO staff AS t (school_id, staff_id, name, role, email, hourly_cost, import_run_id)
            SELECT sc.id, s.doc->>'staff_id', s.doc->>'name', s.doc->>'role', s.doc->>'email',
                   (s.doc->>'hourly_cost')::numeric, $1
              FROM staged_staff s JOIN schools sc ON sc.urn = s.school_urn
            ON CONFLICT (school_id, staff_id) DO UPDATE
               SET name = EXCLUDED.name, role = EXCLUDED.role, email = EXCLUDED.email,
                   hourly_cost = EXCLUDED.hourly_cost, import_run_id = EXCLUDED.import_run_id
             WHERE (t.name, t.role, t.email, t.hourly_cost) IS DISTINCT FROM
                   (EXCLUDED.name, EXCLUDED.role, EXCLUDED.email, EXCLUDED.hourly_cost)
            """)

        if !consoleEdit {
            try await keepConsoleEdits(
                db, runID, &stats, staged: "staged_provision", type: "provision", table: "provisions",
                match: "t.school_id = sc.id AND t.provision_id = s.doc->>'provision_id'",
                compared: """
                    (t.name, t.start_date, t.end_date, t.area_of_need, t.sessions_per_week, t.minutes_per_session, t.hourly_cost)
                    IS NOT DISTINCT FROM
                    (s.doc->>'name', (s.doc->>'start_date')::date, (s.doc->>'end_date')::date, s.doc->>'area_of_need',
                     (s.doc->>'sessions_per_week')::numeric, (s.doc->>'minutes_per_session')::int, (s.doc->>'hourly_cost')::numeric)
                    """)
        }
        try await upsert(db, runID, &stats, table: "provisions", sql: """
            INSERT INTO provisions AS t (school_id, provision_id, name, area_of_need, wave, priority, statutory,
                                         delivery, group_size, sessions_per_week, minutes_per_session, start_date,
                                         end_date, hourly_cost, resource_cost, funding_stream, outcome_instrument,
                                         outcome_subject, outcome_measure, outcome_target_gain, import_run_id,
                                         edited_in_console)
            SELECT sc.id, s.doc->>'provision_id', s.doc->>'name', s.doc->>'area_of_need', (s.doc->>'wave')::int,
                   s.doc->>'priority', coalesce((s.doc->>'statutory')::boolean, false), s.doc->>'delivery',
                   (s.doc->>'group_size')::int, (s.doc->>'sessions_per_week')::numeric,
                   (s.doc->>'minutes_per_session')::int, (s.doc->>'start_date')::date, (s.doc->>'end_date')::date,
                   (s.doc->>'hourly_cost')::numeric, (s.doc->>'resource_cost')::numeric, s.doc->>'funding_stream',
                   s.doc->'outcome'->>'instrument', s.doc->'outcome'->>'subject', s.doc->'outcome'->>'measure',
                   (s.doc->'outcome'->>'target_gain')::numeric, $1\(consoleEdit ? ", now()" : ", NULL::timestamptz")
              FROM staged_provision s JOIN schools sc ON sc.urn = s.school_urn
            ON CONFLICT (school_id, provision_id) DO UPDATE SET
                   name = EXCLUDED.name, area_of_need = EXCLUDED.area_of_need, wave = EXCLUDED.wave,
                   priority = EXCLUDED.priority, statutory = EXCLUDED.statutory, delivery = EXCLUDED.delivery,
                   group_size = EXCLUDED.group_size, sessions_per_week = EXCLUDED.sessions_per_week,
                   minutes_per_session = EXCLUDED.minutes_per_session, start_date = EXCLUDED.start_date,
                   end_date = EXCLUDED.end_date, hourly_cost = EXCLUDED.hourly_cost,
                   resource_cost = EXCLUDED.resource_cost, funding_stream = EXCLUDED.funding_stream,
                   outcome_instrument = EXCLUDED.outcome_instrument, outcome_subject = EXCLUDED.outcome_subject,
                   outcome_measure = EXCLUDED.outcome_measure, outcome_target_gain = EXCLUDED.outcome_target_gain,
                   import_run_id = EXCLUDED.import_run_id\(consoleEdit ? ", edited_in_console = now()" : "")
             WHERE (t.name, t.area_of_need, t.wave, t.priority, t.statutory, t.delivery, t.group_size,
                    t.sessions_per_week, t.minutes_per_session, t.start_date, t.end_date, t.hourly_cost,
                    t.resource_cost, t.funding_stream, t.outcome_instrument, t.outcome_subject, t.outcome_measure,
                    t.outcome_target_gain)
                   IS DISTINCT FROM
                   (EXCLUDED.name, EXCLUDED.area_of_need, EXCLUDED.wave, EXCLUDED.priority, EXCLUDED.statutory,
                    EXCLUDED.delivery, EXCLUDED.group_size, EXCLUDED.sessions_per_week, EXCLUDED.minutes_per_session,
                    EXCLUDED.start_date, EXCLUDED.end_date, EXCLUDED.hourly_cost, EXCLUDED.resource_cost,
                    EXCLUDED.funding_stream, EXCLUDED.outcome_instrument, EXCLUDED.outcome_subject,
                    EXCLUDED.outcome_measure, EXCLUDED.outcome_target_gain)
            """)

        // Staff links are replaced for provisions whose record lists staff_ids.
        try await db.execute(
            """
            CREATE TEMP TABLE wanted_staff ON COMMIT DROP AS
            SELECT s.line, pr.id AS provision_id, st.id AS staff_id, ids.staff_ref
              FROM staged_provision s
              JOIN schools sc ON sc.urn = s.school_urn
              JOIN provisions pr ON pr.school_id = sc.id AND pr.provision_id = s.doc->>'provision_id'
             CROSS JOIN LATERAL jsonb_array_elements_text(s.doc->'staff_ids') AS ids (staff_ref)
              LEFT JOIN staff st ON st.school_id = sc.id AND st.staff_id = ids.staff_ref
             WHERE s.doc ? 'staff_ids'
            """)
        try await db.execute(
            """
            INSERT INTO rejected_records (import_run_id, line, record_type, severity, reason)
            SELECT $1, line, 'provision', 'warning', 'provision.staff_ids names a staff member who is not in the staff records; the link was skipped'
              FROM wanted_staff WHERE staff_id IS NULL
            """, runID)
        stats.updated["provision_staff"] = try await db.execute(
            """
            DELETE FROM provision_staff ps USING staged_provision s, schools sc, provisions pr
             WHERE s.doc ? 'staff_ids' AND sc.urn = s.school_urn AND pr.school_id = sc.id
               AND pr.provision_id = s.doc->>'provision_id' AND ps.provision_id = pr.id
               AND NOT EXISTS (SELECT 1 FROM wanted_staff w WHERE w.provision_id = ps.provision_id AND w.staff_id = ps.staff_id)
            """)
        try await upsert(db, runID, &stats, table: "provision_staff", sql: """
            INSERT INTO provision_staff AS t (provision_id, staff_id, import_run_id)
            SELECT DISTINCT provision_id, staff_id, $1::bigint FROM wanted_staff WHERE staff_id IS NOT NULL
            ON CONFLICT (provision_id, staff_id) DO NOTHING
            """)

        try await rejectMissing(
            db, runID, &stats, table: "staged_enrolment", type: "enrolment",
            condition: """
                NOT EXISTS (SELECT 1 FROM pupils p WHERE p.upn = s.doc->>'upn')
                OR NOT EXISTS (SELECT 1 FROM provisions pr JOIN schools sc ON sc.id = pr.school_id
                               WHERE sc.urn = s.school_urn AND pr.provision_id = s.doc->>'provision_id')
                """,
            reason: "enrolment refers to a pupil or provision that is not known; import pupils and provisions first")
        try await rejectMissing(
            db, runID, &stats, table: "staged_enrolment", type: "enrolment",
            condition: "NOT EXISTS (SELECT 1 FROM pupils p JOIN bound_school b ON b.id = p.school_id WHERE p.upn = s.doc->>'upn')",
            reason: "enrolment.upn is a pupil of another school of the trust, which this source is not bound to")
        if !consoleEdit {
            try await keepConsoleEdits(
                db, runID, &stats, staged: "staged_enrolment", type: "enrolment", table: "enrolments",
                match: """
                    t.provision_id = (SELECT pr.id FROM provisions pr WHERE pr.school_id = sc.id AND pr.provision_id = s.doc->>'provision_id')
                    AND t.pupil_id = (SELECT p.id FROM pupils p WHERE p.upn = s.doc->>'upn')
                    AND t.start_date = (s.doc->>'start_date')::date
                    """,
                compared: """
                    (t.end_date, t.status, t.entry_value, t.entry_date, t.exit_value, t.exit_date)
                    IS NOT DISTINCT FROM
                    ((s.doc->>'end_date')::date, s.doc->>'status', (s.doc->'entry'->>'value')::numeric,
                     (s.doc->'entry'->>'date')::date, (s.doc->'exit'->>'value')::numeric, (s.doc->'exit'->>'date')::date)
                    """)
        }
        try await upsert(db, runID, &stats, table: "enrolments", sql: """
            INSERT INTO enrolments AS t (provision_id, pupil_id, start_date, end_date, status, target, entry_value,
                                         entry_date, exit_value, exit_date, parent_informed, import_run_id,
                                         edited_in_console)
            SELECT pr.id, p.id, (s.doc->>'start_date')::date, (s.doc->>'end_date')::date, s.doc->>'status',
                   s.doc->>'target', (s.doc->'entry'->>'value')::numeric, (s.doc->'entry'->>'date')::date,
                   (s.doc->'exit'->>'value')::numeric, (s.doc->'exit'->>'date')::date,
                   (s.doc->>'parent_informed')::date, $1\(consoleEdit ? ", now()" : ", NULL::timestamptz")
              FROM staged_enrolment s
              JOIN schools sc ON sc.urn = s.school_urn
              JOIN provisions pr ON pr.school_id = sc.id AND pr.provision_id = s.doc->>'provision_id'
              JOIN pupils p ON p.upn = s.doc->>'upn'
            ON CONFLICT (provision_id, pupil_id, start_date) DO UPDATE SET
                   end_date = EXCLUDED.end_date, status = EXCLUDED.status, target = EXCLUDED.target,
                   entry_value = EXCLUDED.entry_value, entry_date = EXCLUDED.entry_date,
                   exit_value = EXCLUDED.exit_value, exit_date = EXCLUDED.exit_date,
                   parent_informed = EXCLUDED.parent_informed, import_run_id = EXCLUDED.import_run_id\(consoleEdit ? ", edited_in_console = now()" : "")
             WHERE (t.end_date, t.status, t.target, t.entry_value, t.entry_date, t.exit_value, t.exit_date,
                    t.parent_informed)
                   IS DISTINCT FROM
                   (EXCLUDED.end_date, EXCLUDED.status, EXCLUDED.target, EXCLUDED.entry_value, EXCLUDED.entry_date,
                    EXCLUDED.exit_value, EXCLUDED.exit_date, EXCLUDED.parent_informed)
            """)
        try await mergePlans(db, runID: runID, stats: &stats)
        return stats
    }

    /// Results, the bulk of any large run. They are written in the order of their pupils,
    /// so that each pupil's results lie together on disk, where the evaluation reads them
    /// pupil by pupil: merged in the order of a marksheet (by test round), the 60,000-pupil
    /// trust's evaluation took a tenth longer, and its import too. An export that lists each
    /// pupil's results together is already in that order, which the sort only checks.
    ///
    /// They are deduplicated after the pupils are merged,
    /// in one pass that also finds each result's pupil and whether it is already stored as
    /// it is (most of a nightly export), so the rejections below read no other table and
    /// only new or changed results reach the insert. Stored results are looked for among
    /// the bound schools' pupils only: a school's run in a large trust then probes the index
    /// for its own pupils instead of reading every result of the trust.
    private static func mergeAssessments(
        _ db: PostgresConnection, runID: Int64, stats: inout MergeStatistics, staged: Int, keysMayRepeat: Bool
    ) async throws {
        // Every staged result's test is listed: the run listed each as it met it
        // (``ResultTests``), so this adds none unless the merge runs on its own.
        try await db.execute(
            """
            INSERT INTO result_tests (instrument, subject, measure)
            SELECT DISTINCT s.instrument, s.subject, s.measure FROM import_staging s
             WHERE s.record_type = 'assessment'
               AND NOT EXISTS (SELECT 1 FROM result_tests t
                                WHERE t.instrument = s.instrument AND t.subject = s.subject AND t.measure = s.measure)
            ON CONFLICT (instrument, subject, measure) DO NOTHING
            """)
        let kept = try await db.execute(
            """
            CREATE TEMP TABLE staged_assessment ON COMMIT DROP AS
            SELECT \(keysMayRepeat ? "DISTINCT ON (s.upn, s.instrument, s.subject, s.measure, s.assessed_on)" : "")
                   s.line, sc.id AS school_id, t.id AS test_id, s.value, s.assessed_on,
                   p.id AS pupil_id, p.dob, b.id IS NOT NULL AS pupil_of_bound_school, n.id IS NOT NULL AS new_pupil,
                   a.pupil_id IS NOT NULL AS stored, coalesce(a.value = s.value AND a.school_id = sc.id, false) AS unchanged
              FROM import_staging s
              JOIN schools sc ON sc.urn = s.school_urn
              JOIN result_tests t ON t.instrument = s.instrument AND t.subject = s.subject AND t.measure = s.measure
              LEFT JOIN pupils p ON p.upn = s.upn
              LEFT JOIN bound_school b ON b.id = p.school_id
              LEFT JOIN new_pupil n ON n.id = p.id
              LEFT JOIN (SELECT r.pupil_id, r.test_id, r.assessed_on, r.value, r.school_id
                           FROM results r WHERE r.pupil_id IN (SELECT bp.id FROM pupils bp JOIN bound_school bb ON bb.id = bp.school_id)) a
                     ON a.pupil_id = p.id AND a.test_id = t.id AND a.assessed_on = s.assessed_on
             WHERE s.record_type = 'assessment'
             ORDER BY \(keysMayRepeat ? "s.upn, s.instrument, s.subject, s.measure, s.assessed_on, s.line DESC" : "p.id, t.id, s.assessed_on")
            \(staged > 0 ? "" : "WITH NO DATA")
            """)
        stats.duplicates += staged - kept
        // The last rule is a mistyped year the record alone cannot show: the pupil's age at
        // the result, which the growth model reckons, would be negative. (The date of birth
        // is not repeated.)
        let rejected = try await rejectMissing(
            db, runID, &stats, table: "staged_assessment", type: "assessment",
            rules: [
                ("s.pupil_id IS NULL", "assessment.upn is not a pupil known to the trust; import the pupils (CTF) first"),
                ("NOT s.pupil_of_bound_school",
                 "assessment.upn is a pupil of another school of the trust, which this source is not bound to"),
                ("s.assessed_on < s.dob", "assessment.date is before the pupil's date of birth"),
            ])
        // A plain insert for new pupils' results: checking each for a conflict that cannot
        // happen was a third of inserting them.
        let ofNewPupils = try await db.execute(
            """
            INSERT INTO results (pupil_id, school_id, test_id, value, assessed_on, import_run_id)
            SELECT s.pupil_id, s.school_id, s.test_id, s.value, s.assessed_on, $1
              FROM staged_assessment s WHERE s.new_pupil
            """, runID)
        stats.inserted["assessments", default: 0] += ofNewPupils
        // A first import's results are all of new pupils: no other is left to read for.
        guard kept - rejected - ofNewPupils > 0 else { return }
        // Results whose key had no stored result when they were staged (a school's first
        // marksheets, a night's new test round) are inserted plainly too: the checked insert
        // below took 257–385 ms for a school's first 35,712 results, a plain one 142–175 ms.
        // Another transaction may have stored one of those keys since (a source filing the
        // pupil's result under another school): the insert then fails on the key, is undone
        // to its savepoint, and those results take the checked insert with the rest.
        try await db.execute("SAVEPOINT unstored_results")
        var unstoredInserted = false
        do {
            stats.inserted["assessments", default: 0] += try await db.execute(
                """
                INSERT INTO results (pupil_id, school_id, test_id, value, assessed_on, import_run_id)
                SELECT s.pupil_id, s.school_id, s.test_id, s.value, s.assessed_on, $1
                  FROM staged_assessment s WHERE NOT s.new_pupil AND NOT s.stored
                """, runID)
            try await db.execute("RELEASE SAVEPOINT unstored_results")
            unstoredInserted = true
        } catch let error as PostgresError where error.sqlState == SQLState.uniqueViolation {
            try await db.execute("ROLLBACK TO SAVEPOINT unstored_results")
        }
        try await upsert(db, runID, &stats, table: "assessments", sql: """
            INSERT INTO results AS t (pupil_id, school_id, test_id, value, assessed_on, import_run_id)
            SELECT s.pupil_id, s.school_id, s.test_id, s.value, s.assessed_on, $1
              FROM staged_assessment s WHERE NOT s.new_pupil AND NOT s.unchanged\(unstoredInserted ? " AND s.stored" : "")
            ON CONFLICT (pupil_id, test_id, assessed_on) DO UPDATE
               SET value = EXCLUDED.value, school_id = EXCLUDED.school_id, import_run_id = EXCLUDED.import_run_id
             WHERE (t.value, t.school_id) IS DISTINCT FROM (EXCLUDED.value, EXCLUDED.school_id)
               AND t.school_id IN (SELECT id FROM bound_school)
            """)
    }

    /// Support plans from a school's spreadsheet (`plan` records, keyed by the school's
    /// `plan_ref`). A new plan gets its first version; a plan whose content differs from its
    /// current imported version gets a new version (versions are never changed); an
    /// unchanged one nothing. A plan whose current version was made in the console (by a
    /// review) is the SENCO's now: a differing import is left out with a warning, as for
    /// provisions (docs/console.md).
    private static func mergePlans(_ db: PostgresConnection, runID: Int64, stats: inout MergeStatistics) async throws {
        try await rejectMissing(
            db, runID, &stats, table: "staged_plan", type: "plan",
            condition: "NOT EXISTS (SELECT 1 FROM pupils p JOIN bound_school b ON b.id = p.school_id JOIN schools sc ON sc.id = b.id "
                + "WHERE p.upn = s.doc->>'upn' AND sc.urn = s.school_urn)",
            reason: "plan.upn is not a pupil of this plan's school; import the pupils (CTF) first")
        try await rejectMissing(
            db, runID, &stats, table: "staged_plan", type: "plan",
            condition: """
                EXISTS (SELECT 1 FROM jsonb_array_elements_text(coalesce(s.doc->'provision_ids', '[]')) AS ids (id)
                         WHERE NOT EXISTS (SELECT 1 FROM provisions pr JOIN schools sc ON sc.id = pr.school_id
                                            WHERE sc.urn = s.school_urn AND pr.provision_id = ids.id))
                """,
            reason: "plan.provision_ids names a provision the school does not have; import the provision map first")
        try await rejectMissing(
            db, runID, &stats, table: "staged_plan", type: "plan",
            condition: """
                EXISTS (SELECT 1 FROM support_plans sp JOIN schools sc ON sc.id = sp.school_id JOIN pupils p ON p.id = sp.pupil_id
                         WHERE sc.urn = s.school_urn AND sp.import_ref = s.doc->>'plan_ref'
                           AND (p.upn <> s.doc->>'upn' OR sp.kind <> s.doc->>'kind'))
                """,
            reason: "plan.plan_ref is already another pupil's plan (or another kind of plan); give each plan its own reference")

        try await upsert(db, runID, &stats, table: "support_plans", sql: """
            INSERT INTO support_plans AS t (school_id, kind, pupil_id, created_by, import_ref)
            SELECT sc.id, s.doc->>'kind', p.id, 'import run ' || $1::bigint, s.doc->>'plan_ref'
              FROM staged_plan s JOIN schools sc ON sc.urn = s.school_urn JOIN pupils p ON p.upn = s.doc->>'upn'
            ON CONFLICT (school_id, import_ref) WHERE import_ref IS NOT NULL DO NOTHING
            """)
        // What a version says, without who it is about: equal digests, equal content.
        let digest = "md5((s.doc - 'type' - 'school_urn' - 'plan_ref' - 'upn' - 'kind' - 'written_on')::text)"
        try await db.execute(
            """
            CREATE TEMP TABLE plan_changes ON COMMIT DROP AS
            SELECT sp.id AS plan_id, sp.pupil_id, coalesce(cur.version, 0) + 1 AS version, s.doc, s.line, \(digest) AS digest,
                   cur.version IS NOT NULL AND cur.import_digest IS NULL AS console_made,
                   to_char(cur.created_at, 'YYYY-MM-DD') AS made_on
              FROM staged_plan s JOIN schools sc ON sc.urn = s.school_urn
              JOIN support_plans sp ON sp.school_id = sc.id AND sp.import_ref = s.doc->>'plan_ref'
              LEFT JOIN LATERAL (SELECT v.version, v.import_digest, v.created_at FROM plan_versions v WHERE v.plan_id = sp.id
                                  ORDER BY v.version DESC LIMIT 1) cur ON true
             WHERE cur.import_digest IS DISTINCT FROM \(digest)
            """)
        let kept = try await db.query(
            """
            WITH kept AS (DELETE FROM plan_changes WHERE console_made RETURNING line, doc->>'plan_ref' AS ref, made_on),
                 recorded AS (
                INSERT INTO rejected_records (import_run_id, line, record_type, severity, reason, ref)
                SELECT $1, line, 'plan', 'warning',
                       'this plan was reviewed in the console on ' || made_on
                       || ' and the spreadsheet differs; the console''s version was kept (change it there)', ref
                  FROM kept RETURNING 1)
            SELECT count(*) FROM recorded
            """, runID
        ).scalar(as: Int.self)
        if kept > 0 {
            stats.keptConsoleEdits += kept
            stats.reasons.append("\(kept) plan record(s) kept as the console's reviews made them (warnings name them)")
        }
        try await upsert(db, runID, &stats, table: "plan_versions", sql: """
            INSERT INTO plan_versions AS t (plan_id, version, strengths, needs, strategies, people, next_review, created_by, import_digest)
            SELECT plan_id, version, coalesce(doc->>'strengths', ''), coalesce(doc->>'needs', ''), coalesce(doc->>'strategies', ''),
                   coalesce(doc->>'people', ''), (doc->>'next_review')::date, 'import run ' || $1::bigint, digest
              FROM plan_changes
            """)
        stats.inserted["plan_targets"] = try await db.execute(
            """
            INSERT INTO plan_targets (plan_version_id, position, pupil_id, description, by_date, measured_by, instrument, subject, measure,
                                      target_value)
            SELECT v.id, t.position, c.pupil_id, t.target->>'description', (t.target->>'by')::date, coalesce(t.target->>'measured_by', ''),
                   t.target->>'instrument', t.target->>'subject', t.target->>'measure', (t.target->>'target_value')::numeric
              FROM plan_changes c JOIN plan_versions v ON v.plan_id = c.plan_id AND v.version = c.version
             CROSS JOIN LATERAL jsonb_array_elements(c.doc->'targets') WITH ORDINALITY AS t (target, position)
            """)
        try await db.execute(
            """
            INSERT INTO plan_provisions (plan_version_id, provision_id)
            SELECT DISTINCT v.id, pr.id
              FROM plan_changes c JOIN plan_versions v ON v.plan_id = c.plan_id AND v.version = c.version
              JOIN support_plans sp ON sp.id = c.plan_id
             CROSS JOIN LATERAL jsonb_array_elements_text(coalesce(c.doc->'provision_ids', '[]')) AS ids (id)
              JOIN provisions pr ON pr.school_id = sp.school_id AND pr.provision_id = ids.id
            """)
    }

    /// Marks as left the pupils of the bound schools that a snapshot does not list, except
    /// pupils whose record was rejected, and no one at a school with a rejected pupil record
    /// that named no usable UPN. Refuses (throws) when a school would lose more than
    /// `maxLeavers` of its pupils on roll.
    ///
    /// `rejectedPupils` is how many rows of rejected pupil records were staged: without any,
    /// the staging table is not read for them (0.1 s of a million records).
    private static func markLeavers(
        _ db: PostgresConnection, runID: Int64, stats: inout MergeStatistics, rejectedPupils: Int,
        skipped: StoredRecords.SkippedPupils, maxLeavers: Double?
    ) async throws {
        try await db.execute(
            """
            CREATE TEMP TABLE rejected_pupil ON COMMIT DROP AS
            SELECT nullif(school_urn, '') AS school_urn, doc->>'upn' AS upn
              FROM import_staging WHERE record_type = $1
            \(rejectedPupils > 0 ? "" : "WITH NO DATA")
            """, rejectedPupilType)
        stats.leaversWithheld = try await db.query(
            """
            SELECT DISTINCT b.urn FROM bound_school b JOIN rejected_pupil r
                ON r.upn IS NULL AND (r.school_urn IS NULL OR r.school_urn = b.urn)
             ORDER BY b.urn
            """
        ).rows.map { try $0.decode("urn", as: String.self) }
        // A pupil this run wrote is staged, so never leaving: passing over them before the
        // lists are searched took a first import's 250,000 pupils from 0.25–0.35 s to 0.08 s.
        try await db.execute(
            """
            CREATE TEMP TABLE leaving ON COMMIT DROP AS
            SELECT p.id, p.school_id FROM pupils p JOIN bound_school b ON b.id = p.school_id
             WHERE p.on_roll AND b.urn <> ALL($1::text[]) AND p.import_run_id IS DISTINCT FROM $2
               AND NOT EXISTS (SELECT 1 FROM staged_pupil s WHERE s.upn = p.upn)
               AND NOT \(skipped.condition)
               AND NOT EXISTS (SELECT 1 FROM rejected_pupil r WHERE r.upn = p.upn)
            """, stats.leaversWithheld, runID)
        if let maxLeavers {
            let counts = try await db.query(
                """
                SELECT b.urn, count(l.id) AS leaving,
                       (SELECT count(*) FROM pupils p WHERE p.on_roll AND p.school_id = b.id) AS on_roll
                  FROM bound_school b JOIN leaving l ON l.school_id = b.id
                 GROUP BY b.id, b.urn ORDER BY b.urn
                """)
            for row in counts.rows {
                let leaving = try row.decode("leaving", as: Int.self)
                let onRoll = try row.decode("on_roll", as: Int.self)
                if Double(leaving) > maxLeavers * Double(onRoll) {
                    throw MassLeaversRefused(
                        schoolURN: try row.decode("urn", as: String.self), leaving: leaving, onRoll: onRoll, maxShare: maxLeavers)
                }
            }
        }
        stats.markedLeft = try await db.execute(
            """
            UPDATE pupils p SET on_roll = false, marked_left_at = now(), import_run_id = $1, updated_at = now()
             WHERE p.id IN (SELECT id FROM leaving)
            """, runID)
    }

    /// The precedence of a SENCO's console edit over imports (docs/console.md): a staged record
    /// for a row edited in the console that agrees with it on what the console edits hands
    /// the row back to imports (the mark is cleared and the record applies); one that
    /// disagrees is left out of this run, with a warning naming it, so the edit is never
    /// silently overwritten.
    private static func keepConsoleEdits(
        _ db: PostgresConnection, _ runID: Int64, _ stats: inout MergeStatistics, staged: String, type: String, table: String,
        match: String, compared: String
    ) async throws {
        try await db.execute(
            """
            UPDATE \(table) t SET edited_in_console = NULL
              FROM \(staged) s JOIN schools sc ON sc.urn = s.school_urn
             WHERE t.edited_in_console IS NOT NULL AND \(match) AND \(compared)
            """)
        let kept = try await db.query(
            """
            WITH kept AS (
                DELETE FROM \(staged) s USING schools sc, \(table) t
                 WHERE sc.urn = s.school_urn AND t.edited_in_console IS NOT NULL AND \(match)
                RETURNING s.line, s.doc->>'provision_id' AS provision, to_char(t.edited_in_console, 'YYYY-MM-DD') AS edited),
                 recorded AS (
                INSERT INTO rejected_records (import_run_id, line, record_type, severity, reason, ref)
                SELECT $1, line, $2, 'warning',
                       'a SENCO edited this ' || $2 || ' in the console on ' || edited
                       || ' and this import disagrees; the console''s version was kept (change it there)', provision
                  FROM kept RETURNING 1)
            SELECT count(*) FROM recorded
            """, runID, type
        ).scalar(as: Int.self)
        guard kept > 0 else { return }
        stats.keptConsoleEdits += kept
        stats.reasons.append("\(kept) \(type) record(s) kept as a SENCO edited them in the console (warnings name them)")
    }

    /// Runs an `INSERT … ON CONFLICT` and counts inserted and updated rows.
    ///
    /// `notingInsertedIn` names a temporary table of one `id` column that receives the ids of
    /// the rows the statement inserted.
    private static func upsert(
        _ db: PostgresConnection, _ runID: Int64, _ stats: inout MergeStatistics, table: String,
        notingInsertedIn inserted: String? = nil, sql: String
    ) async throws {
        let noting = inserted.map { ", noted AS (INSERT INTO \($0) (id) SELECT id FROM changed WHERE inserted)" } ?? ""
        let row = try await db.query(
            """
            WITH changed AS (\(sql) RETURNING \(inserted == nil ? "" : "id, ")(xmax = 0) AS inserted)\(noting)
            SELECT count(*) FILTER (WHERE inserted) AS inserted, count(*) FILTER (WHERE NOT inserted) AS updated
              FROM changed
            """, runID
        ).singleRow()
        stats.inserted[table, default: 0] += try row?.decode("inserted", as: Int.self) ?? 0
        stats.updated[table, default: 0] += try row?.decode("updated", as: Int.self) ?? 0
    }

    /// Records staged rows matching `condition` as rejected and removes them from staging.
    private static func rejectMissing(
        _ db: PostgresConnection, _ runID: Int64, _ stats: inout MergeStatistics, table: String, type: String,
        condition: String, reason: String
    ) async throws {
        try await rejectMissing(db, runID, &stats, table: table, type: type, rules: [(condition, reason)])
    }

    /// Rejects the rows of `table` that meet any of `rules`' conditions, each for the reason of
    /// the first it meets, in one pass over the table (three passes over a million-record
    /// run's results were 0.3 s). Returns how many it rejected.
    @discardableResult
    private static func rejectMissing(
        _ db: PostgresConnection, _ runID: Int64, _ stats: inout MergeStatistics, table: String, type: String,
        rules: [(condition: String, reason: String)]
    ) async throws -> Int {
        let which = rules.enumerated().map { "WHEN \($0.element.condition) THEN \($0.offset + 1)" }.joined(separator: " ")
        let rows = try await db.query(
            """
            WITH missing AS (DELETE FROM \(table) s WHERE \(rules.map { "(\($0.condition))" }.joined(separator: " OR "))
                             RETURNING line, CASE \(which) END AS rule),
                 recorded AS (INSERT INTO rejected_records (import_run_id, line, record_type, severity, reason)
                              SELECT $1, line, $2, 'rejected', ($3::text[])[rule] FROM missing RETURNING reason)
            SELECT reason, count(*) AS n FROM recorded GROUP BY reason
            """, runID, type, rules.map(\.reason)
        ).rows
        var counts: [String: Int] = [:]
        for row in rows { counts[try row.decode("reason", as: String.self)] = try row.decode("n", as: Int.self) }
        for rule in rules {
            guard let count = counts[rule.reason] else { continue }
            stats.rejectedAtMerge += count
            stats.rejectedAtMergeByType[type, default: 0] += count
            stats.reasons.append("\(count) \(type) record(s): \(rule.reason)")
        }
        return counts.values.reduce(0, +)
    }
}
