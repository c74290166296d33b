extension Migration {
    /// The normalised data model of DESIGN §5: natural keys unique, surrogate ids, every
    /// imported row stamped with the import run that last wrote it.
    ///
    /// The `import_run_id` stamps carry no foreign key: only the import pipeline writes them,
    /// import runs are never deleted, and a per-row RI check on every upserted row cost a
    /// sixth of a large import's time (measured with benchmarks/import-memory.sh).
    static let schema = Migration(
        version: 1, name: "schema",
        sql: """
            CREATE TABLE import_runs (
                id              bigserial PRIMARY KEY,
                source          text NOT NULL,
                plugin          text NOT NULL,
                plugin_version  text,
                schools         text[] NOT NULL,
                started_at      timestamptz NOT NULL DEFAULT now(),
                finished_at     timestamptz,
                status          text NOT NULL DEFAULT 'running'
                                CHECK (status IN ('running', 'succeeded', 'failed', 'unchanged')),
                failure         text,
                input_checksum  text,
                counts          jsonb NOT NULL DEFAULT '{}',
                rejected_count  integer NOT NULL DEFAULT 0,
                warning_count   integer NOT NULL DEFAULT 0,
                first_reasons   jsonb NOT NULL DEFAULT '[]',
                stderr_tail     text
            );
            CREATE INDEX import_runs_source ON import_runs (source, started_at DESC);

            CREATE TABLE rejected_records (
                id              bigserial PRIMARY KEY,
                import_run_id   bigint NOT NULL REFERENCES import_runs (id) ON DELETE CASCADE,
                line            bigint NOT NULL,
                record_type     text,
                severity        text NOT NULL CHECK (severity IN ('rejected', 'warning')),
                reason          text NOT NULL,
                ref             text
            );
            CREATE INDEX rejected_records_run ON rejected_records (import_run_id);

            CREATE TABLE schools (
                id              bigserial PRIMARY KEY,
                urn             text NOT NULL UNIQUE,
                laestab         text,
                name            text NOT NULL,
                phase           text,
                import_run_id   bigint,
                updated_at      timestamptz NOT NULL DEFAULT now()
            );

            -- One row per pupil across the trust, keyed by UPN: a pupil who moves school inside
            -- the trust keeps one history. A pupil is never deleted; leavers are marked.
            CREATE TABLE pupils (
                id              bigserial PRIMARY KEY,
                upn             text NOT NULL UNIQUE,
                school_id       bigint NOT NULL REFERENCES schools (id),
                surname         text NOT NULL,
                forename        text NOT NULL,
                dob             date NOT NULL,
                gender          text,
                year_group      text,
                admission_date  date,
                leaving_date    date,
                on_roll         boolean NOT NULL DEFAULT true,
                marked_left_at  timestamptz,
                sen_provision   text NOT NULL DEFAULT 'N' CHECK (sen_provision IN ('N', 'K', 'E')),
                sen_start_date  date,
                fsm             boolean,
                pupil_premium   boolean,
                eal             boolean,
                looked_after    boolean,
                upn_warning     text,
                import_run_id   bigint,
                updated_at      timestamptz NOT NULL DEFAULT now()
            );
            CREATE INDEX pupils_school ON pupils (school_id) WHERE on_roll;

            CREATE TABLE pupil_needs (
                pupil_id        bigint NOT NULL REFERENCES pupils (id) ON DELETE CASCADE,
                code            text NOT NULL CHECK (code IN ('SPLD', 'MLD', 'SLD', 'PMLD', 'SEMH', 'SLCN',
                                    'HI', 'VI', 'MSI', 'PD', 'ASD', 'OTH', 'NSA')),
                rank            integer NOT NULL CHECK (rank >= 1),
                import_run_id   bigint,
                PRIMARY KEY (pupil_id, code)
            );

            CREATE TABLE assessments (
                id              bigserial PRIMARY KEY,
                pupil_id        bigint NOT NULL REFERENCES pupils (id),
                school_id       bigint NOT NULL REFERENCES schools (id),
                instrument      text NOT NULL,
                subject         text NOT NULL,
                measure         text NOT NULL CHECK (measure IN ('age_months', 'standardised', 'scaled', 'raw', 'steps')),
                value           numeric NOT NULL,
                assessed_on     date NOT NULL,
                import_run_id   bigint,
                UNIQUE (pupil_id, instrument, subject, measure, assessed_on)
            );

            CREATE TABLE staff (
                id              bigserial PRIMARY KEY,
                school_id       bigint NOT NULL REFERENCES schools (id),
                staff_id        text NOT NULL,
                name            text NOT NULL,
                role            text CHECK (role IN ('teacher', 'TA', 'HLTA', 'SENCO', 'external')),
                email           text,
                hourly_cost     numeric CHECK (hourly_cost >= 0),
                import_run_id   bigint,
                UNIQUE (school_id, staff_id)
            );

            CREATE TABLE provisions (
                id                   bigserial PRIMARY KEY,
                school_id            bigint NOT NULL REFERENCES schools (id),
                provision_id         text NOT NULL,
                name                 text NOT NULL,
                area_of_need         text CHECK (area_of_need IN ('CI', 'CL', 'SEMH', 'SP')),
                wave                 integer CHECK (wave BETWEEN 1 AND 3),
                priority             text CHECK (priority IN ('must', 'should', 'could')),
                statutory            boolean NOT NULL DEFAULT false,
                delivery             text CHECK (delivery IN ('individual', 'group', 'class')),
                group_size           integer CHECK (group_size >= 1),
                sessions_per_week    numeric CHECK (sessions_per_week >= 0),
                minutes_per_session  integer CHECK (minutes_per_session >= 0),
                start_date           date,
                end_date             date,
                hourly_cost          numeric CHECK (hourly_cost >= 0),
                resource_cost        numeric CHECK (resource_cost >= 0),
                funding_stream       text,
                outcome_instrument   text,
                outcome_subject      text,
                outcome_measure      text CHECK (outcome_measure IN ('age_months', 'standardised', 'scaled', 'raw', 'steps')),
                outcome_target_gain  numeric,
                import_run_id        bigint,
                UNIQUE (school_id, provision_id)
            );

            CREATE TABLE provision_staff (
                provision_id    bigint NOT NULL REFERENCES provisions (id) ON DELETE CASCADE,
                staff_id        bigint NOT NULL REFERENCES staff (id),
                import_run_id   bigint,
                PRIMARY KEY (provision_id, staff_id)
            );

            CREATE TABLE enrolments (
                id               bigserial PRIMARY KEY,
                provision_id     bigint NOT NULL REFERENCES provisions (id),
                pupil_id         bigint NOT NULL REFERENCES pupils (id),
                start_date       date NOT NULL,
                end_date         date,
                status           text CHECK (status IN ('planned', 'active', 'completed', 'withdrawn')),
                target           text,
                entry_value      numeric,
                entry_date       date,
                exit_value       numeric,
                exit_date        date,
                parent_informed  date,
                import_run_id    bigint,
                UNIQUE (provision_id, pupil_id, start_date)
            );
            CREATE INDEX enrolments_pupil ON enrolments (pupil_id);

            -- Jobs are rows, claimed with FOR UPDATE SKIP LOCKED. unique_key makes a second
            -- pending or running job of the same kind for the same thing impossible.
            CREATE TABLE jobs (
                id              bigserial PRIMARY KEY,
                kind            text NOT NULL,
                payload         jsonb NOT NULL DEFAULT '{}',
                unique_key      text,
                state           text NOT NULL DEFAULT 'available'
                                CHECK (state IN ('available', 'running', 'completed', 'failed', 'discarded')),
                attempt         integer NOT NULL DEFAULT 0,
                max_attempts    integer NOT NULL DEFAULT 5,
                run_at          timestamptz NOT NULL DEFAULT now(),
                locked_by       text,
                locked_at       timestamptz,
                heartbeat_at    timestamptz,
                last_error      text,
                created_at      timestamptz NOT NULL DEFAULT now(),
                finished_at     timestamptz
            );
            CREATE UNIQUE INDEX jobs_unique_pending ON jobs (unique_key)
                WHERE unique_key IS NOT NULL AND state IN ('available', 'running');
            CREATE INDEX jobs_claimable ON jobs (run_at) WHERE state = 'available';

            CREATE TABLE evaluation_runs (
                id              bigserial PRIMARY KEY,
                school_id       bigint REFERENCES schools (id),
                started_at      timestamptz NOT NULL DEFAULT now(),
                finished_at     timestamptz,
                status          text NOT NULL DEFAULT 'running'
                                CHECK (status IN ('running', 'succeeded', 'failed')),
                settings        jsonb NOT NULL DEFAULT '{}'
            );

            -- One row per flag an evaluation raised; alerts follow flags across runs.
            CREATE TABLE evaluation_flags (
                id                  bigserial PRIMARY KEY,
                evaluation_run_id   bigint NOT NULL REFERENCES evaluation_runs (id) ON DELETE CASCADE,
                rule                text NOT NULL,
                school_id           bigint NOT NULL REFERENCES schools (id),
                subject_key         text NOT NULL,
                pupil_id            bigint REFERENCES pupils (id),
                provision_id        bigint REFERENCES provisions (id),
                priority            integer NOT NULL DEFAULT 0,
                reason              text NOT NULL,
                numbers             jsonb NOT NULL DEFAULT '{}',
                UNIQUE (evaluation_run_id, rule, school_id, subject_key)
            );

            CREATE TABLE alerts (
                id              bigserial PRIMARY KEY,
                rule            text NOT NULL,
                school_id       bigint NOT NULL REFERENCES schools (id),
                subject_key     text NOT NULL,
                pupil_id        bigint REFERENCES pupils (id),
                provision_id    bigint REFERENCES provisions (id),
                status          text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
                opened_at       timestamptz NOT NULL DEFAULT now(),
                last_seen_at    timestamptz NOT NULL DEFAULT now(),
                resolved_at     timestamptz,
                reason          text NOT NULL,
                numbers         jsonb NOT NULL DEFAULT '{}',
                notified_at     timestamptz
            );
            CREATE UNIQUE INDEX alerts_one_open ON alerts (rule, school_id, subject_key) WHERE status = 'open';

            -- The transactional outbox: written with the alerts, delivered by the mailer.
            CREATE TABLE mail_outbox (
                id              bigserial PRIMARY KEY,
                message_id      text NOT NULL UNIQUE,
                recipients      text[] NOT NULL,
                subject         text NOT NULL,
                message         bytea NOT NULL,
                state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
                attempts        integer NOT NULL DEFAULT 0,
                next_attempt_at timestamptz NOT NULL DEFAULT now(),
                last_error      text,
                created_at      timestamptz NOT NULL DEFAULT now(),
                sent_at         timestamptz
            );
            CREATE INDEX mail_outbox_pending ON mail_outbox (next_attempt_at) WHERE state = 'pending';
            """)
}
