extension Migration {
    /// The digest policy (DESIGN §7): a SENCO's digest at most once a school day and the
    /// SEND lead's at most once a day, each day claimed by one row (so several daemons send
    /// it once); alerts remember separately whether the lead has been told.
    static let digestPolicy = Migration(
        version: 6, name: "digest policy",
        sql: """
            ALTER TABLE alerts ADD COLUMN lead_notified_at timestamptz;
            UPDATE alerts SET lead_notified_at = notified_at;
            CREATE TABLE digest_sends (
                scope       text NOT NULL,
                day         date NOT NULL,
                sent_at     timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (scope, day)
            );
            """)
}
