extension Migration {
    /// A flag's run is checked once per statement, and what flags and alerts name is checked
    /// once per distinct value rather than once per row.
    ///
    /// After migration 15, copying an unchanged school's 23,800 flags into a run still spent
    /// 59 ms in the run's foreign key (a query and a row lock per flag, all for the one run)
    /// and 55 ms in the check of what they name (a school probe per flag, though they all name
    /// one school): a third of that school's evaluation after a nightly import that changed
    /// nothing.
    ///
    /// The run check refuses what the key refused, with the same SQLSTATE, and locks the runs
    /// it finds `FOR KEY SHARE` as the key did, so deleting a run waits for a transaction
    /// adding flags to it, and a transaction adding flags to a run deleted meanwhile is
    /// refused. Deleting a run still deletes its flags (a statement trigger, for the key's
    /// `ON DELETE CASCADE`); truncating runs that flags name, or renumbering a run, is refused.
    static let setBasedFlagRun = Migration(
        version: 17, name: "set-based flag run",
        sql: """
            ALTER TABLE evaluation_flags DROP CONSTRAINT evaluation_flags_evaluation_run_id_fkey;

            CREATE FUNCTION check_flag_run() RETURNS trigger LANGUAGE plpgsql AS $$
            DECLARE
                runs bigint[];
                found_runs bigint;
            BEGIN
                SELECT array_agg(DISTINCT evaluation_run_id) INTO runs FROM new_rows;
                IF runs IS NULL THEN
                    RETURN NULL;
                END IF;
                PERFORM 1 FROM evaluation_runs WHERE id = ANY (runs) FOR KEY SHARE;
                GET DIAGNOSTICS found_runs = ROW_COUNT;
                IF found_runs < cardinality(runs) THEN
                    RAISE EXCEPTION 'evaluation flags name runs %, and not all of them exist', runs
                        USING ERRCODE = 'foreign_key_violation';
                END IF;
                RETURN NULL;
            END $$;
            CREATE TRIGGER evaluation_flags_run_inserted AFTER INSERT ON evaluation_flags
                REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION check_flag_run();
            CREATE TRIGGER evaluation_flags_run_updated AFTER UPDATE ON evaluation_flags
                REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION check_flag_run();

            CREATE FUNCTION delete_runs_flags() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                DELETE FROM evaluation_flags f USING old_rows o WHERE f.evaluation_run_id = o.id;
                RETURN NULL;
            END $$;
            CREATE TRIGGER evaluation_runs_flags_deleted AFTER DELETE ON evaluation_runs
                REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION delete_runs_flags();
            CREATE TRIGGER evaluation_runs_flags_truncated BEFORE TRUNCATE ON evaluation_runs
                FOR EACH STATEMENT EXECUTE FUNCTION refuse_removing_referenced('evaluation_run_id', 'evaluation_flags');
            CREATE TRIGGER evaluation_runs_id_fixed BEFORE UPDATE OF id ON evaluation_runs
                FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION refuse_id_change();

            -- Each distinct school, pupil and provision once: a school's flags all name the school.
            CREATE OR REPLACE FUNCTION check_named_subjects() RETURNS trigger LANGUAGE plpgsql AS $$
            DECLARE
                missing record;
            BEGIN
                SELECT m.kind, m.id INTO missing FROM (
                    SELECT 'school' AS kind, d.id FROM (SELECT DISTINCT school_id AS id FROM new_rows) d
                     WHERE NOT EXISTS (SELECT 1 FROM schools s WHERE s.id = d.id)
                    UNION ALL
                    SELECT 'pupil', d.id FROM (SELECT DISTINCT pupil_id AS id FROM new_rows WHERE pupil_id IS NOT NULL) d
                     WHERE NOT EXISTS (SELECT 1 FROM pupils p WHERE p.id = d.id)
                    UNION ALL
                    SELECT 'provision', d.id FROM (SELECT DISTINCT provision_id AS id FROM new_rows WHERE provision_id IS NOT NULL) d
                     WHERE NOT EXISTS (SELECT 1 FROM provisions pr WHERE pr.id = d.id)) m
                 LIMIT 1;
                IF FOUND THEN
                    RAISE EXCEPTION '% names % %, which does not exist', TG_TABLE_NAME, missing.kind, missing.id
                        USING ERRCODE = 'foreign_key_violation';
                END IF;
                RETURN NULL;
            END $$;
            """)
}
