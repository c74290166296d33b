extension Migration {
    /// What the daemon needs (DESIGN §2): schedules as rows, so several daemons agree on who
    /// queues each cron slot, and job uniqueness split in two so that a job can be queued
    /// while another with the same key runs (an evaluation asked for during an evaluation
    /// must still happen), yet two never run at once.
    static let daemon = Migration(
        version: 3, name: "daemon",
        sql: """
            DROP INDEX jobs_unique_pending;
            CREATE UNIQUE INDEX jobs_unique_available ON jobs (unique_key)
                WHERE unique_key IS NOT NULL AND state = 'available';
            CREATE UNIQUE INDEX jobs_unique_running ON jobs (unique_key)
                WHERE unique_key IS NOT NULL AND state = 'running';
            CREATE INDEX jobs_finished ON jobs (finished_at DESC) WHERE state IN ('failed', 'discarded');

            -- One row per scheduled source. next_slot is compared-and-set by whichever daemon
            -- queues the slot, so each cron slot becomes exactly one job.
            CREATE TABLE source_schedules (
                source          text PRIMARY KEY,
                schedule        text NOT NULL,
                time_zone       text NOT NULL,
                next_slot       timestamptz NOT NULL,
                last_slot       timestamptz,
                last_job_id     bigint,
                updated_at      timestamptz NOT NULL DEFAULT now()
            );
            """)
}
