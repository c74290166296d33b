-- SEND Provision: least-privilege database roles (docs/operations.md, "Database roles").
--
-- Run once as a superuser, connected to the trust's database:
--     psql -v ON_ERROR_STOP=1 -d provision -f deploy/roles.sql
-- then give each login role a password (\password provision_daemon) or use peer/cert auth.
-- Safe to run again (after an upgrade, say): it only adds what is missing.
--
--   provision_owner   owns the schema; runs `provisionctl db migrate` at install and upgrade.
--   provision_daemon  what provisiond and provisionctl use day to day: reads and writes rows,
--                     creates temporary staging tables; cannot create, alter or drop tables.
--   provision_reader  read-only, for reports and the trust's own analysis.
-- None is a superuser, none can create databases or roles, none bypasses row security.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'provision_owner') THEN
        CREATE ROLE provision_owner LOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'provision_daemon') THEN
        CREATE ROLE provision_daemon LOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'provision_reader') THEN
        CREATE ROLE provision_reader LOGIN;
    END IF;
END
$$;

ALTER ROLE provision_owner  NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
ALTER ROLE provision_daemon NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 100;
ALTER ROLE provision_reader NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 10;

DO $$
BEGIN
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO provision_owner, provision_daemon', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO provision_reader', current_database());
END
$$;

REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE, CREATE ON SCHEMA public TO provision_owner;
GRANT USAGE ON SCHEMA public TO provision_daemon, provision_reader;

-- Tables the owner creates from now on (every migration) ...
ALTER DEFAULT PRIVILEGES FOR ROLE provision_owner IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO provision_daemon;
ALTER DEFAULT PRIVILEGES FOR ROLE provision_owner IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO provision_daemon;
ALTER DEFAULT PRIVILEGES FOR ROLE provision_owner IN SCHEMA public
    GRANT SELECT ON TABLES TO provision_reader;

-- ... and those that exist already.
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO provision_daemon;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO provision_daemon;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO provision_reader;
