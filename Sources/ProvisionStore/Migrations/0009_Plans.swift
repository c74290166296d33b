extension Migration {
    /// Support plans and the assess–plan–do–review cycle (issue 18): a plan for a pupil (SEN
    /// support, or an EHC plan's outcomes) or for an intervention group, kept as numbered
    /// versions; each version's targets and the provisions that serve it; reviews that rate
    /// every target, record the pupil's and the parents' voice and the decision on each
    /// provision, and make the next version; and when a version was shared with parents.
    ///
    /// Nothing is overwritten: versions, targets, reviews, ratings, decisions and shares are
    /// only ever added; a trigger refuses UPDATE and DELETE on them.
    static let plans = Migration(
        version: 9, name: "support plans",
        sql: """
            CREATE TABLE support_plans (
                id              bigserial PRIMARY KEY,
                school_id       bigint NOT NULL REFERENCES schools (id),
                kind            text NOT NULL CHECK (kind IN ('sen_support', 'ehcp', 'group')),
                pupil_id        bigint REFERENCES pupils (id),
                provision_id    bigint REFERENCES provisions (id),
                created_at      timestamptz NOT NULL DEFAULT now(),
                created_by      text NOT NULL,
                CHECK ((kind = 'group') = (provision_id IS NOT NULL)),
                CHECK ((kind = 'group') = (pupil_id IS NULL))
            );
            CREATE INDEX support_plans_pupil ON support_plans (pupil_id);
            CREATE INDEX support_plans_school ON support_plans (school_id);

            CREATE TABLE plan_versions (
                id              bigserial PRIMARY KEY,
                plan_id         bigint NOT NULL REFERENCES support_plans (id),
                version         integer NOT NULL CHECK (version >= 1),
                strengths       text NOT NULL DEFAULT '',
                needs           text NOT NULL DEFAULT '',
                strategies      text NOT NULL DEFAULT '',
                people          text NOT NULL DEFAULT '',
                next_review     date NOT NULL,
                from_review_id  bigint,
                created_at      timestamptz NOT NULL DEFAULT now(),
                created_by      text NOT NULL,
                UNIQUE (plan_id, version)
            );

            CREATE TABLE plan_targets (
                id              bigserial PRIMARY KEY,
                plan_version_id bigint NOT NULL REFERENCES plan_versions (id),
                position        integer NOT NULL,
                pupil_id        bigint NOT NULL REFERENCES pupils (id),
                description     text NOT NULL CHECK (description <> ''),
                by_date         date NOT NULL,
                measured_by     text NOT NULL DEFAULT '',
                instrument      text,
                subject         text,
                measure         text CHECK (measure IN ('age_months', 'standardised', 'scaled', 'raw', 'steps')),
                target_value    numeric,
                CHECK ((instrument IS NULL) = (measure IS NULL) AND (measure IS NULL) = (target_value IS NULL)),
                UNIQUE (plan_version_id, position)
            );
            CREATE INDEX plan_targets_pupil ON plan_targets (pupil_id);

            CREATE TABLE plan_provisions (
                plan_version_id bigint NOT NULL REFERENCES plan_versions (id),
                provision_id    bigint NOT NULL REFERENCES provisions (id),
                PRIMARY KEY (plan_version_id, provision_id)
            );

            -- One review closes one version and makes the next.
            CREATE TABLE plan_reviews (
                id              bigserial PRIMARY KEY,
                plan_version_id bigint NOT NULL UNIQUE REFERENCES plan_versions (id),
                held_on         date NOT NULL,
                attendees       text NOT NULL CHECK (attendees <> ''),
                pupil_voice     text NOT NULL DEFAULT '',
                parent_voice    text NOT NULL DEFAULT '',
                summary         text NOT NULL DEFAULT '',
                created_at      timestamptz NOT NULL DEFAULT now(),
                created_by      text NOT NULL
            );
            ALTER TABLE plan_versions ADD FOREIGN KEY (from_review_id) REFERENCES plan_reviews (id);

            CREATE TABLE review_ratings (
                review_id       bigint NOT NULL REFERENCES plan_reviews (id),
                target_id       bigint NOT NULL REFERENCES plan_targets (id),
                rating          text NOT NULL CHECK (rating IN ('not_yet', 'partly', 'achieved')),
                evidence        text NOT NULL DEFAULT '',
                PRIMARY KEY (review_id, target_id)
            );

            CREATE TABLE review_decisions (
                review_id       bigint NOT NULL REFERENCES plan_reviews (id),
                provision_id    bigint NOT NULL REFERENCES provisions (id),
                decision        text NOT NULL CHECK (decision IN ('continue', 'change', 'stop')),
                verdict         text,
                note            text NOT NULL DEFAULT '',
                PRIMARY KEY (review_id, provision_id)
            );

            CREATE TABLE plan_shares (
                id              bigserial PRIMARY KEY,
                plan_version_id bigint NOT NULL REFERENCES plan_versions (id),
                shared_on       date NOT NULL,
                how             text NOT NULL CHECK (how <> ''),
                recorded_by     text NOT NULL,
                recorded_at     timestamptz NOT NULL DEFAULT now()
            );
            CREATE INDEX plan_shares_version ON plan_shares (plan_version_id);

            CREATE FUNCTION plans_never_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '% rows are never changed or removed: hold a review to make a new version', TG_TABLE_NAME
                    USING ERRCODE = 'restrict_violation';
            END $$;
            DO $$
            DECLARE kept text;
            BEGIN
                FOREACH kept IN ARRAY ARRAY['plan_versions', 'plan_targets', 'plan_provisions', 'plan_reviews', 'review_ratings',
                                            'review_decisions', 'plan_shares'] LOOP
                    EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %I FOR EACH ROW EXECUTE FUNCTION plans_never_change()',
                                   kept || '_kept', kept);
                END LOOP;
            END $$;
            """)
}
