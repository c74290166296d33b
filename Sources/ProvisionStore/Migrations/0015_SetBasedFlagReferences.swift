extension Migration {
    /// Flags and alerts name their school, pupil and provision through checks made once per
    /// statement instead of foreign keys checked once per row, as results (migration 13) and
    /// pupils (migration 14) do.
    ///
    /// Three of an evaluation's four foreign key checks per flag were three quarters of
    /// writing its flags: copying a 60,000-pupil trust's 8,700 flags into a run took 130 ms
    /// with them and 37 ms without the three. An unchanged school's flags are copied into
    /// every run that carries it over, so this is most of an evaluation with nothing to do.
    /// The flag's run keeps its foreign key (deleting a run deletes its flags).
    ///
    /// They refuse what the keys refused, with the same SQLSTATE: a flag or alert naming a
    /// school, pupil or provision that does not exist, and deleting or truncating a school,
    /// pupil or provision that flags or alerts name (migration 14's `refuse_removing_referenced`,
    /// which takes a SHARE lock on both tables first, so no transaction can add one naming it
    /// in between).
    static let setBasedFlagReferences = Migration(
        version: 15, name: "set-based flag references",
        sql: """
            ALTER TABLE evaluation_flags DROP CONSTRAINT evaluation_flags_school_id_fkey,
                                         DROP CONSTRAINT evaluation_flags_pupil_id_fkey,
                                         DROP CONSTRAINT evaluation_flags_provision_id_fkey;
            ALTER TABLE alerts DROP CONSTRAINT alerts_school_id_fkey,
                               DROP CONSTRAINT alerts_pupil_id_fkey,
                               DROP CONSTRAINT alerts_provision_id_fkey;

            CREATE FUNCTION check_named_subjects() RETURNS trigger LANGUAGE plpgsql AS $$
            DECLARE
                orphan record;
            BEGIN
                SELECT n.id, n.school_id, n.pupil_id, n.provision_id INTO orphan FROM new_rows n
                 WHERE NOT EXISTS (SELECT 1 FROM schools s WHERE s.id = n.school_id)
                    OR (n.pupil_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pupils p WHERE p.id = n.pupil_id))
                    OR (n.provision_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM provisions pr WHERE pr.id = n.provision_id))
                 LIMIT 1;
                IF FOUND THEN
                    RAISE EXCEPTION '% % names school %, pupil % and provision %, and one of them does not exist',
                        TG_TABLE_NAME, orphan.id, orphan.school_id, orphan.pupil_id, orphan.provision_id
                        USING ERRCODE = 'foreign_key_violation';
                END IF;
                RETURN NULL;
            END $$;

            """ + ["evaluation_flags", "alerts"].map { table in
                """

                CREATE TRIGGER \(table)_subjects_inserted AFTER INSERT ON \(table)
                    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION check_named_subjects();
                CREATE TRIGGER \(table)_subjects_updated AFTER UPDATE ON \(table)
                    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION check_named_subjects();
                """
            }.joined() + [("schools", "school_id"), ("pupils", "pupil_id"), ("provisions", "provision_id")].map { table, column in
                """

                CREATE TRIGGER \(table)_named_deleted AFTER DELETE ON \(table)
                    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION refuse_removing_referenced('\(column)', 'evaluation_flags', 'alerts');
                CREATE TRIGGER \(table)_named_truncated BEFORE TRUNCATE ON \(table)
                    FOR EACH STATEMENT EXECUTE FUNCTION refuse_removing_referenced('\(column)', 'evaluation_flags', 'alerts');
                """
            }.joined() + """

                CREATE TRIGGER provisions_id_fixed BEFORE UPDATE OF id ON provisions
                    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION refuse_id_change();
                """)
}
