-- The API reads through a role that can only SELECT from marts and api (and raw, for the
-- still-open current hour). A login role for the API is granted this one; the group
-- role itself cannot log in. Roles are cluster-wide, hence the existence check.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'analytics_reader') THEN
        CREATE ROLE analytics_reader NOLOGIN;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA marts, api, raw TO analytics_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA marts, api, raw TO analytics_reader;
-- Tables the migrations and assets create later are readable too.
ALTER DEFAULT PRIVILEGES IN SCHEMA marts GRANT SELECT ON TABLES TO analytics_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA api GRANT SELECT ON TABLES TO analytics_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA raw GRANT SELECT ON TABLES TO analytics_reader;
