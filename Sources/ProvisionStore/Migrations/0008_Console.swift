extension Migration {
    /// The console's accounts (issue 17): users with a role and their schools, sessions and
    /// API tokens (only their SHA-256 is stored, so a copy of the database logs no one in),
    /// TOTP second factors with recovery codes, login attempts for throttling, and the audit
    /// log. Provisions and enrolments edited in the console are marked, so that a later
    /// import does not silently overwrite the SENCO's edit (docs/console.md).
    static let console = Migration(
        version: 8, name: "console",
        sql: """
            CREATE TABLE users (
                id                      bigserial PRIMARY KEY,
                email                   text NOT NULL UNIQUE CHECK (email = lower(email)),
                role                    text NOT NULL CHECK (role IN ('senco', 'send_lead', 'it_admin')),
                password_hash           text NOT NULL,
                password_changed_at     timestamptz NOT NULL DEFAULT now(),
                second_factor_required  boolean NOT NULL,
                totp_secret             text,
                totp_pending_secret     text,
                totp_last_step          bigint,
                disabled_at             timestamptz,
                created_at              timestamptz NOT NULL DEFAULT now()
            );

            -- A SENCO's schools, by URN (a school may be configured before its first import).
            CREATE TABLE user_schools (
                user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                school_urn  text NOT NULL,
                PRIMARY KEY (user_id, school_urn)
            );

            CREATE TABLE recovery_codes (
                user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                code_hash   text NOT NULL,
                used_at     timestamptz,
                PRIMARY KEY (user_id, code_hash)
            );

            CREATE TABLE console_sessions (
                token_hash          text PRIMARY KEY,
                user_id             bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                csrf_token          text NOT NULL,
                second_factor_done  boolean NOT NULL,
                address             text,
                created_at          timestamptz NOT NULL DEFAULT now(),
                last_seen_at        timestamptz NOT NULL DEFAULT now()
            );
            CREATE INDEX console_sessions_user ON console_sessions (user_id);

            CREATE TABLE api_tokens (
                token_hash      text PRIMARY KEY,
                user_id         bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                created_at      timestamptz NOT NULL DEFAULT now(),
                last_used_at    timestamptz
            );

            CREATE TABLE login_attempts (
                id          bigserial PRIMARY KEY,
                email       text NOT NULL,
                address     text NOT NULL,
                succeeded   boolean NOT NULL,
                at          timestamptz NOT NULL DEFAULT now()
            );
            CREATE INDEX login_attempts_email ON login_attempts (email, at);
            CREATE INDEX login_attempts_address ON login_attempts (address, at);

            -- Who did what, when, from where: every view of a pupil and every change.
            CREATE TABLE audit_log (
                id          bigserial PRIMARY KEY,
                at          timestamptz NOT NULL DEFAULT now(),
                user_id     bigint REFERENCES users (id),
                email       text NOT NULL,
                address     text,
                action      text NOT NULL,
                school_urn  text,
                subject     text,
                detail      jsonb NOT NULL DEFAULT '{}'
            );
            CREATE INDEX audit_log_at ON audit_log (at DESC);

            ALTER TABLE provisions ADD COLUMN edited_in_console timestamptz;
            ALTER TABLE enrolments ADD COLUMN edited_in_console timestamptz;
            """)
}
