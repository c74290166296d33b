extension Migration {
    /// A need's pupil is checked once per statement rather than by a foreign key row by row;
    /// removing a pupil still removes their needs, as the key's `ON DELETE CASCADE` did.
    ///
    /// A first import writes its pupils' needs in statements of a few hundred to a thousand
    /// rows, just after their pupils. The key checked each row on its own, locking its pupil's
    /// row: a million-record first import's 35,715 needs took the server process that copies
    /// the rows (the import's bottleneck) 0.35 s, against 0.05 s into a copy of the table
    /// without the key. The statement trigger that replaces it looks each distinct pupil up
    /// by key once, which both checks the pupil and gives the school whose data version it
    /// raises, as the results' trigger does (migration 24): 146–162 ms against 297–347 ms,
    /// four first imports each way, alternated.
    ///
    /// What a foreign key refused is refused, with its error code: a need naming no pupil,
    /// inserted or changed, and emptying the pupils while needs remain. The race its row lock
    /// closed is closed by a table lock, as for the results (migration 13): a removal of
    /// pupils waits for needs being written by open transactions and then removes them too,
    /// and needs written while a removal is open wait for it and then find their pupil gone.
    static let needsCheckedPerStatement = Migration(
        version: 26, name: "needs checked per statement",
        sql: """
            ALTER TABLE pupil_needs DROP CONSTRAINT pupil_needs_pupil_id_fkey;

            -- Inserted or changed needs: one lookup by key per distinct pupil, which both
            -- tells whether the pupil exists and gives the school to raise (the data-version
            -- trigger of migrations 11 and 19 joined inserted needs with the pupils for the
            -- school alone; for changed needs it stays, raising the old rows' schools too).
            CREATE FUNCTION note_need_pupils() RETURNS trigger LANGUAGE plpgsql AS $$
            DECLARE
                missing bigint;
            BEGIN
                WITH need_pupil AS MATERIALIZED (
                         SELECT d.pupil_id AS id, (SELECT p.school_id FROM pupils p WHERE p.id = d.pupil_id) AS school_id
                           FROM (SELECT DISTINCT pupil_id FROM new_rows) d),
                     raised AS (
                         UPDATE schools SET data_version = data_version + 1
                          WHERE id = ANY (ARRAY(SELECT DISTINCT school_id FROM need_pupil WHERE school_id IS NOT NULL)))
                SELECT id INTO missing FROM need_pupil WHERE school_id IS NULL LIMIT 1;
                IF FOUND THEN
                    RAISE EXCEPTION 'a need names pupil %, which does not exist', missing
                        USING ERRCODE = 'foreign_key_violation';
                END IF;
                RETURN NULL;
            END $$;
            DROP TRIGGER pupil_needs_inserted ON pupil_needs;
            CREATE TRIGGER pupil_needs_inserted AFTER INSERT ON pupil_needs
                REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION note_need_pupils();
            CREATE TRIGGER pupil_needs_pupils_updated AFTER UPDATE ON pupil_needs
                REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION note_need_pupils();

            CREATE FUNCTION remove_needs_of_removed_pupils() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                -- Waits for transactions writing needs, and holds new ones off until this one
                -- ends, so that none is left naming a removed pupil.
                LOCK TABLE pupil_needs IN SHARE MODE;
                DELETE FROM pupil_needs n USING old_rows o WHERE n.pupil_id = o.id;
                RETURN NULL;
            END $$;
            CREATE TRIGGER pupils_needs_deleted AFTER DELETE ON pupils
                REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION remove_needs_of_removed_pupils();
            CREATE TRIGGER pupils_needs_truncated BEFORE TRUNCATE ON pupils
                FOR EACH STATEMENT EXECUTE FUNCTION refuse_removing_referenced('pupil_id', 'pupil_needs');
            """)
}
