extension Migration {
    /// The pupils' identifying columns are left out of the planner's statistics.
    ///
    /// `ANALYZE` copies a sample of every column into `pg_statistic`: the most common values
    /// and a histogram of up to a hundred of them, for surnames, forenames and UPNs as much
    /// as for year groups. No plan needs them. UPNs are found through their unique index,
    /// which already tells the planner that each is one pupil; names and the other columns
    /// here are shown and compared row by row, never filtered or joined on. Kept out, a
    /// pupil's name or UPN is stored only where the product puts it (data minimisation:
    /// docs/security.md), and the statistics an import refreshes take less time: analysing
    /// a 250,000-pupil table took 116–170 ms, 64–66 ms without these columns.
    static let pupilIdentifiersNotSampled = Migration(
        version: 28, name: "pupil identifiers not sampled",
        sql: """
            ALTER TABLE pupils
                ALTER COLUMN upn SET STATISTICS 0,
                ALTER COLUMN surname SET STATISTICS 0,
                ALTER COLUMN forename SET STATISTICS 0,
                ALTER COLUMN upn_warning SET STATISTICS 0,
                ALTER COLUMN marked_left_at SET STATISTICS 0,
                ALTER COLUMN import_run_id SET STATISTICS 0,
                ALTER COLUMN updated_at SET STATISTICS 0;
            -- What was sampled before is removed now, where the role may (the embedded
            -- cluster's is a superuser; otherwise docs/operations.md gives the statement):
            -- an analysis leaves a column it no longer samples as it was.
            DO $$
            BEGIN
                IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
                    DELETE FROM pg_statistic
                     WHERE starelid = 'pupils'::regclass
                       AND staattnum IN (SELECT attnum FROM pg_attribute
                                          WHERE attrelid = 'pupils'::regclass AND attstattarget = 0);
                END IF;
            END
            $$;
            """)
}
