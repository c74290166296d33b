extension Migration {
    /// A result or an enrolment raises the data version of its pupil's school as well as
    /// its own school's.
    ///
    /// A source bound to several schools may file a pupil's result under another of them, or
    /// enrol the pupil in another's provision. The evaluation of the pupil's school reads every
    /// result of its pupils (the stall rule) and every enrolment (the need rule), so such a
    /// change must have that school evaluated again; migration 11 raised only the row's own
    /// school (the result's, the provision's), and the pupil's school's outcomes and flags
    /// were carried over as they were.
    ///
    /// For results, one statement-level function raises the row's school and, where it
    /// differs, the pupil's: inserting 620,000 results takes 70–115 ms more (one join with the
    /// pupils). Enrolments are few and take migration 11's `pupil` link.
    static let pupilsSchoolDataVersion = Migration(
        version: 16, name: "pupil's school data version",
        sql: """
            CREATE FUNCTION note_result_change() RETURNS trigger LANGUAGE plpgsql AS $$
            DECLARE
                raise_schools CONSTANT text := 'UPDATE schools SET data_version = data_version + 1 WHERE id IN ('
                    || 'SELECT r.school_id FROM %1$I r UNION SELECT p.school_id FROM %1$I r JOIN pupils p ON p.id = r.pupil_id '
                    || 'WHERE p.school_id <> r.school_id)';
            BEGIN
                IF TG_OP <> 'DELETE' THEN
                    EXECUTE format(raise_schools, 'new_rows');
                END IF;
                IF TG_OP <> 'INSERT' THEN
                    EXECUTE format(raise_schools, 'old_rows');
                END IF;
                RETURN NULL;
            END $$;
            DROP TRIGGER assessments_inserted ON assessments;
            DROP TRIGGER assessments_updated ON assessments;
            DROP TRIGGER assessments_deleted ON assessments;
            CREATE TRIGGER assessments_inserted AFTER INSERT ON assessments REFERENCING NEW TABLE AS new_rows
                FOR EACH STATEMENT EXECUTE FUNCTION note_result_change();
            CREATE TRIGGER assessments_updated AFTER UPDATE ON assessments REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
                FOR EACH STATEMENT EXECUTE FUNCTION note_result_change();
            CREATE TRIGGER assessments_deleted AFTER DELETE ON assessments REFERENCING OLD TABLE AS old_rows
                FOR EACH STATEMENT EXECUTE FUNCTION note_result_change();

            CREATE TRIGGER enrolments_pupil_inserted AFTER INSERT ON enrolments REFERENCING NEW TABLE AS new_rows
                FOR EACH STATEMENT EXECUTE FUNCTION note_school_data_change('pupil');
            CREATE TRIGGER enrolments_pupil_updated AFTER UPDATE ON enrolments REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
                FOR EACH STATEMENT EXECUTE FUNCTION note_school_data_change('pupil');
            CREATE TRIGGER enrolments_pupil_deleted AFTER DELETE ON enrolments REFERENCING OLD TABLE AS old_rows
                FOR EACH STATEMENT EXECUTE FUNCTION note_school_data_change('pupil');
            """)
}
