extension Migration {
    /// A change to what a pupil's rows say raises the data version of every school whose
    /// evaluation reads them: the pupil's own school and the schools of the provisions the
    /// pupil is enrolled in, as well as the row's own school (migration 11).
    ///
    /// A source bound to several schools may file a pupil's result under another of them, or
    /// enrol the pupil in another's provision. The evaluation of the pupil's school reads every
    /// result of its pupils (the stall rule) and every enrolment (the need rule); the
    /// evaluation of a provision's school reads its pupils' results (their entry and exit) and
    /// year groups (their peers). Migration 11 raised only the row's own school (the result's,
    /// the provision's, the pupil's), so the others kept outcomes and flags computed without
    /// the change.
    ///
    /// TG_ARGV[0] is the column naming the pupil. Inserting 620,000 results takes about 0.15 s
    /// more (their distinct pupils, joined with the pupils and the enrolments), of 2.4 s.
    static let pupilsSchoolDataVersion = Migration(
        version: 16, name: "pupils' schools data version",
        sql: """
            CREATE FUNCTION note_pupil_data_change() RETURNS trigger LANGUAGE plpgsql AS $$
            DECLARE
                -- Each pupil once (a large import names each many times), then their schools.
                raise_schools CONSTANT text := 'UPDATE schools SET data_version = data_version + 1 WHERE id IN ('
                    || 'WITH changed AS MATERIALIZED (SELECT DISTINCT r.%2$I AS id FROM %1$I r) '
                    || 'SELECT p.school_id FROM changed c JOIN pupils p ON p.id = c.id '
                    || 'UNION SELECT pr.school_id FROM changed c JOIN enrolments e ON e.pupil_id = c.id '
                    || 'JOIN provisions pr ON pr.id = e.provision_id)';
            BEGIN
                IF TG_OP <> 'DELETE' THEN
                    EXECUTE format(raise_schools, 'new_rows', TG_ARGV[0]);
                END IF;
                IF TG_OP <> 'INSERT' THEN
                    EXECUTE format(raise_schools, 'old_rows', TG_ARGV[0]);
                END IF;
                RETURN NULL;
            END $$;
            """ + [("assessments", "pupil_id"), ("enrolments", "pupil_id"), ("pupils", "id")].map { table, column in
                """

                CREATE TRIGGER \(table)_pupil_inserted AFTER INSERT ON \(table) REFERENCING NEW TABLE AS new_rows
                    FOR EACH STATEMENT EXECUTE FUNCTION note_pupil_data_change('\(column)');
                CREATE TRIGGER \(table)_pupil_updated AFTER UPDATE ON \(table) REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
                    FOR EACH STATEMENT EXECUTE FUNCTION note_pupil_data_change('\(column)');
                CREATE TRIGGER \(table)_pupil_deleted AFTER DELETE ON \(table) REFERENCING OLD TABLE AS old_rows
                    FOR EACH STATEMENT EXECUTE FUNCTION note_pupil_data_change('\(column)');
                """
            }.joined())
}
