extension Migration {
    /// A change to what a pupil's rows say raises the data version of every school whose
    /// evaluation reads them, not only the row's own school (migration 11).
    ///
    /// A source bound to several schools may file a pupil's result under another of them, or
    /// enrol the pupil in another's provision (a group one school runs for the trust). The
    /// evaluation of the pupil's school reads every result of its pupils (the stall rule) and
    /// every enrolment (the need rule); the evaluation of a provision's school reads its
    /// pupils' results (entry and exit) and year groups (peers). Migration 11 raised only the
    /// row's own school (the result's, the enrolment's provision's, the pupil's), so the others
    /// kept outcomes and flags computed without the change.
    ///
    /// `note_pupil_data_change(column [, 'filed'])` raises, for the pupils `column` names, the
    /// schools of the provisions they are enrolled in other than their own; with `'filed'`
    /// (results) also the school each row was filed under and its pupil's school, found in the
    /// same pass, and it replaces migration 11's triggers on results: inserting 620,000 results
    /// takes 60–100 ms more than before. Enrolments are few and add migration 11's `pupil`
    /// link. A new pupil has no enrolments, so only changes to pupils are looked at.
    static let pupilsSchoolDataVersion = Migration(
        version: 16, name: "pupils' schools data version",
        sql: """
            CREATE FUNCTION note_pupil_data_change() RETURNS trigger LANGUAGE plpgsql AS $$
            DECLARE
                -- %1$I: the transition table; %2$I: its column naming the pupil.
                enrolled_elsewhere CONSTANT text := 'SELECT x.school_id FROM %1$I r JOIN ('
                    || 'SELECT e.pupil_id, pr.school_id FROM enrolments e JOIN provisions pr ON pr.id = e.provision_id '
                    || 'JOIN pupils p ON p.id = e.pupil_id WHERE pr.school_id <> p.school_id) x ON x.pupil_id = r.%2$I';
                filed_and_own CONSTANT text := 'WITH pairs AS (SELECT DISTINCT r.school_id AS filed, p.school_id AS own '
                    || 'FROM %1$I r LEFT JOIN pupils p ON p.id = r.%2$I) '
                    || 'SELECT filed FROM pairs UNION SELECT own FROM pairs UNION ';
                transition text;
            BEGIN
                FOREACH transition IN ARRAY CASE TG_OP WHEN 'INSERT' THEN ARRAY['new_rows'] WHEN 'DELETE' THEN ARRAY['old_rows']
                                                       ELSE ARRAY['new_rows', 'old_rows'] END LOOP
                    EXECUTE format('UPDATE schools SET data_version = data_version + 1 WHERE id IN ('
                                   || CASE WHEN TG_NARGS > 1 THEN filed_and_own ELSE '' END || enrolled_elsewhere || ')',
                                   transition, TG_ARGV[0]);
                END LOOP;
                RETURN NULL;
            END $$;

            DROP TRIGGER assessments_inserted ON assessments;
            DROP TRIGGER assessments_updated ON assessments;
            DROP TRIGGER assessments_deleted ON assessments;
            CREATE TRIGGER assessments_inserted AFTER INSERT ON assessments REFERENCING NEW TABLE AS new_rows
                FOR EACH STATEMENT EXECUTE FUNCTION note_pupil_data_change('pupil_id', 'filed');
            CREATE TRIGGER assessments_updated AFTER UPDATE ON assessments REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
                FOR EACH STATEMENT EXECUTE FUNCTION note_pupil_data_change('pupil_id', 'filed');
            CREATE TRIGGER assessments_deleted AFTER DELETE ON assessments REFERENCING OLD TABLE AS old_rows
                FOR EACH STATEMENT EXECUTE FUNCTION note_pupil_data_change('pupil_id', 'filed');

            CREATE TRIGGER pupils_enrolled_updated AFTER UPDATE ON pupils REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
                FOR EACH STATEMENT EXECUTE FUNCTION note_pupil_data_change('id');

            CREATE TRIGGER enrolments_pupil_inserted AFTER INSERT ON enrolments REFERENCING NEW TABLE AS new_rows
                FOR EACH STATEMENT EXECUTE FUNCTION note_school_data_change('pupil');
            CREATE TRIGGER enrolments_pupil_updated AFTER UPDATE ON enrolments REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
                FOR EACH STATEMENT EXECUTE FUNCTION note_school_data_change('pupil');
            CREATE TRIGGER enrolments_pupil_deleted AFTER DELETE ON enrolments REFERENCING OLD TABLE AS old_rows
                FOR EACH STATEMENT EXECUTE FUNCTION note_school_data_change('pupil');
            """)
}
