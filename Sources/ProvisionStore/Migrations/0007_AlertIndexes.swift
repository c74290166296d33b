extension Migration {
    /// Indexes for the alert lifecycle's lookups of live alerts (open or dismissed) by what
    /// they are about. Without them each evaluation compared every flag with every alert:
    /// 13 s of a 60,000-pupil trust's evaluation once it had 11,000 alerts.
    static let alertIndexes = Migration(
        version: 7, name: "alert indexes",
        sql: """
            CREATE INDEX alerts_live ON alerts (rule, school_id, subject_key) WHERE status IN ('open', 'dismissed');
            CREATE INDEX alerts_by_school ON alerts (school_id, status);
            """)
}
