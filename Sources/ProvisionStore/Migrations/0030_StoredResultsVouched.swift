extension Migration {
    /// What lets a source's next run take its remembered results as stored without listing
    /// them: the bound schools' data versions when its last run committed, and a stamp that
    /// its file of remembered lines carries too. Emptying a table of school data now raises
    /// every school's data version, as deleting its rows one by one does.
    ///
    /// A forced re-import of an unchanged million-record export spent 0.5–0.8 s of its 2.4–3.0 s
    /// listing the school's 750,000 stored results, only to find each remembered line's
    /// result stored as that line says. When the last run left every remembered result
    /// stored as its line says (no key twice, none refused at the merge, nothing else
    /// changed while it ran) and no school's data version has moved since, nothing can have
    /// changed them: `schools.data_version` is raised in the transaction of any change to
    /// these schools' rows (migrations 11, 16), which the evaluation already relies on.
    ///
    /// `TRUNCATE` fired none of those triggers, so an administrator emptying `assessments`
    /// left both this and the evaluation's reuse of stored outcomes believing nothing had
    /// changed.
    static let storedResultsVouched = Migration(
        version: 30, name: "stored results vouched",
        sql: """
            CREATE TABLE source_stored_results (
                source          text PRIMARY KEY,
                -- Also in the header of the source's file of remembered lines: a file from
                -- another run (a crash between commit and writing it, a restored backup)
                -- does not match.
                stamp           bigint NOT NULL,
                -- The bound schools, by id in ascending order, and their data versions then.
                school_ids      bigint[] NOT NULL,
                data_versions   bigint[] NOT NULL,
                import_run_id   bigint NOT NULL,
                recorded_at     timestamptz NOT NULL DEFAULT now()
            );

            CREATE FUNCTION note_school_data_emptied() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                UPDATE schools SET data_version = data_version + 1;
                RETURN NULL;
            END $$;
            """ + [
                "pupils", "assessments", "provisions", "staff", "support_plans", "enrolments", "provision_staff",
                "pupil_needs", "plan_versions", "plan_shares", "plan_reviews",
            ].map { table in
                """

                CREATE TRIGGER \(table)_emptied AFTER TRUNCATE ON \(table)
                    FOR EACH STATEMENT EXECUTE FUNCTION note_school_data_emptied();
                """
            }.joined())
}
