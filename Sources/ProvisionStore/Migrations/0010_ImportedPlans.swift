extension Migration {
    /// Support plans imported from a school's spreadsheet (the `plans` importer): the
    /// school's own reference for each plan, so the next import finds it, and a digest of
    /// the content each imported version came from, so an unchanged spreadsheet makes no new
    /// version and a changed one makes exactly one.
    static let importedPlans = Migration(
        version: 10, name: "imported plans",
        sql: """
            ALTER TABLE support_plans ADD COLUMN import_ref text;
            CREATE UNIQUE INDEX support_plans_import_ref ON support_plans (school_id, import_ref) WHERE import_ref IS NOT NULL;
            ALTER TABLE plan_versions ADD COLUMN import_digest text;
            """)
}
