extension Migration {
    /// Alerts people answer (DESIGN §7): acknowledged (open, not mailed again), snoozed (until
    /// a date, then back), dismissed (closed while its figures do not get worse); every answer
    /// kept with who, when and a note. `evidence` is each alert's strength, for ranking and
    /// for telling whether a dismissed alert's figures got worse.
    static let alertAnswers = Migration(
        version: 5, name: "alert answers",
        sql: """
            ALTER TABLE alerts DROP CONSTRAINT alerts_status_check;
            ALTER TABLE alerts ADD CONSTRAINT alerts_status_check CHECK (status IN ('open', 'resolved', 'dismissed'));
            ALTER TABLE alerts
                ADD COLUMN answer text CHECK (answer IN ('acknowledged', 'snoozed')),
                ADD COLUMN snoozed_until date,
                ADD COLUMN evidence float8,
                ADD COLUMN dismissed_evidence float8,
                ADD COLUMN reopened_from bigint REFERENCES alerts (id);
            CREATE TABLE alert_actions (
                id          bigserial PRIMARY KEY,
                alert_id    bigint NOT NULL REFERENCES alerts (id),
                action      text NOT NULL
                            CHECK (action IN ('acknowledged', 'snoozed', 'dismissed', 'snooze_ended', 'reopened')),
                by_whom     text NOT NULL,
                note        text,
                until       date,
                at          timestamptz NOT NULL DEFAULT now()
            );
            CREATE INDEX alert_actions_by_alert ON alert_actions (alert_id, at);
            """)
}
