extension Migration {
    /// What an evaluation needs to re-evaluate only the schools whose data changed.
    ///
    /// `schools.data_version` is raised by triggers in the same transaction as any change to
    /// a table the evaluation reads (an import, a console edit, a plan, or an administrator's
    /// own SQL), so an evaluation that read version N saw every change up to it.
    /// `evaluation_run_schools` says which schools each run covers, at which data version,
    /// and whether their results were computed by that run or carried over from an earlier
    /// one (`reused_from`); the latest succeeded run covering a school holds its results.
    static let incrementalEvaluation = Migration(
        version: 11, name: "incremental evaluation",
        sql: """
            ALTER TABLE schools ADD COLUMN data_version bigint NOT NULL DEFAULT 0;
            CREATE TABLE evaluation_run_schools (
                evaluation_run_id bigint NOT NULL REFERENCES evaluation_runs(id) ON DELETE CASCADE,
                school_id         bigint NOT NULL REFERENCES schools(id),
                data_version      bigint NOT NULL,
                reused_from       bigint REFERENCES evaluation_runs(id) ON DELETE SET NULL,
                stall_not_judged  integer NOT NULL DEFAULT 0,
                PRIMARY KEY (school_id, evaluation_run_id)
            );
            CREATE INDEX evaluation_run_schools_run ON evaluation_run_schools (evaluation_run_id);

            -- TG_ARGV[0] says how a changed row leads to its school. Statement-level, with
            -- transition tables: one UPDATE of schools per statement, however many rows.
            CREATE FUNCTION note_school_data_change() RETURNS trigger LANGUAGE plpgsql AS $$
            DECLARE
                school_of CONSTANT text := CASE TG_ARGV[0]
                    WHEN 'school' THEN 'SELECT school_id FROM %1$I'
                    WHEN 'provision' THEN 'SELECT pr.school_id FROM %1$I c JOIN provisions pr ON pr.id = c.provision_id'
                    WHEN 'pupil' THEN 'SELECT p.school_id FROM %1$I c JOIN pupils p ON p.id = c.pupil_id'
                    WHEN 'plan' THEN 'SELECT sp.school_id FROM %1$I c JOIN support_plans sp ON sp.id = c.plan_id'
                    WHEN 'plan_version' THEN 'SELECT sp.school_id FROM %1$I c JOIN plan_versions v ON v.id = c.plan_version_id
                                               JOIN support_plans sp ON sp.id = v.plan_id'
                END;
            BEGIN
                IF school_of IS NULL THEN
                    RAISE EXCEPTION 'note_school_data_change: unknown link %', TG_ARGV[0];
                END IF;
                IF TG_OP <> 'DELETE' THEN
                    EXECUTE format('UPDATE schools SET data_version = data_version + 1 WHERE id IN (' || school_of || ')', 'new_rows');
                END IF;
                IF TG_OP <> 'INSERT' THEN
                    EXECUTE format('UPDATE schools SET data_version = data_version + 1 WHERE id IN (' || school_of || ')', 'old_rows');
                END IF;
                RETURN NULL;
            END $$;
            """ + [
                ("pupils", "school"), ("assessments", "school"), ("provisions", "school"), ("staff", "school"),
                ("support_plans", "school"), ("enrolments", "provision"), ("provision_staff", "provision"),
                ("pupil_needs", "pupil"), ("plan_versions", "plan"), ("plan_shares", "plan_version"),
                ("plan_reviews", "plan_version"),
            ].map { table, link in
                """

                CREATE TRIGGER \(table)_inserted AFTER INSERT ON \(table) REFERENCING NEW TABLE AS new_rows
                    FOR EACH STATEMENT EXECUTE FUNCTION note_school_data_change('\(link)');
                CREATE TRIGGER \(table)_updated AFTER UPDATE ON \(table) REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
                    FOR EACH STATEMENT EXECUTE FUNCTION note_school_data_change('\(link)');
                CREATE TRIGGER \(table)_deleted AFTER DELETE ON \(table) REFERENCING OLD TABLE AS old_rows
                    FOR EACH STATEMENT EXECUTE FUNCTION note_school_data_change('\(link)');
                """
            }.joined())
}
