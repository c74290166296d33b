extension Migration {
    /// What an evaluation run computes (DESIGN §6): one row per enrolment with the numbers
    /// behind each answer, one per provision and per programme across the trust.
    static let evaluation = Migration(
        version: 2, name: "evaluation",
        sql: """
            ALTER TABLE evaluation_runs ADD COLUMN as_of date NOT NULL DEFAULT current_date;
            ALTER TABLE alerts ADD COLUMN priority integer NOT NULL DEFAULT 0;

            CREATE TABLE enrolment_outcomes (
                evaluation_run_id  bigint NOT NULL REFERENCES evaluation_runs (id) ON DELETE CASCADE,
                enrolment_id       bigint NOT NULL REFERENCES enrolments (id),
                measure            text NOT NULL,
                entry_value        numeric,
                entry_date         date,
                entry_source       text CHECK (entry_source IN ('recorded', 'assessment')),
                exit_value         numeric,
                exit_date          date,
                exit_source        text CHECK (exit_source IN ('recorded', 'assessment')),
                months             numeric,
                gain               numeric,
                ratio_gain         numeric,
                peer_gain          numeric,
                peer_n             integer,
                matched_gain       numeric,
                matched_n          integer,
                progress_made      boolean,
                accelerated        boolean,
                gap_narrowed       boolean,
                PRIMARY KEY (evaluation_run_id, enrolment_id)
            );

            CREATE TABLE provision_outcomes (
                id                  bigserial PRIMARY KEY,
                evaluation_run_id   bigint NOT NULL REFERENCES evaluation_runs (id) ON DELETE CASCADE,
                provision_id        bigint REFERENCES provisions (id),
                school_id           bigint REFERENCES schools (id),
                programme           text NOT NULL,
                name                text NOT NULL,
                measure             text NOT NULL,
                n                   integer NOT NULL,
                effect              numeric,
                ci_low              numeric,
                ci_high             numeric,
                adjusted_effect     numeric,
                adjusted_low        numeric,
                adjusted_high       numeric,
                adjusted_n          integer NOT NULL DEFAULT 0,
                verdict             text NOT NULL
                                    CHECK (verdict IN ('effective', 'ineffective', 'inconclusive', 'insufficient_data')),
                cost_total          numeric,
                cost_per_pupil      numeric,
                cost_per_unit_gain  numeric,
                numbers             jsonb NOT NULL DEFAULT '{}'
            );
            CREATE INDEX provision_outcomes_run ON provision_outcomes (evaluation_run_id);

            -- Finding peers' scores on given dates, trust-wide.
            CREATE INDEX assessments_by_test ON assessments (instrument, subject, measure, assessed_on);
            """)
}
