-- The API reads through a role that can only SELECT from marts and api (and raw, for the
-- still-open current hour). A login role for the API is granted this one; the group
-- role itself cannot log in. Roles are cluster-wide, hence the existence check; on a
-- managed database where the migrating user may not create roles, a DBA creates
-- `analytics_reader` once (see docs/production.md) and the grants below still apply.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'analytics_reader') THEN
        BEGIN
            CREATE ROLE analytics_reader NOLOGIN;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE WARNING 'cannot create role analytics_reader (%); ask a DBA to run: '
                'CREATE ROLE analytics_reader NOLOGIN; then run migrate again', SQLERRM;
            RETURN;
        END;
    END IF;
    GRANT USAGE ON SCHEMA marts, api, raw TO analytics_reader;
    GRANT SELECT ON ALL TABLES IN SCHEMA marts, api, raw TO analytics_reader;
    -- Tables the migrations and assets create later are readable too.
    ALTER DEFAULT PRIVILEGES IN SCHEMA marts GRANT SELECT ON TABLES TO analytics_reader;
    ALTER DEFAULT PRIVILEGES IN SCHEMA api GRANT SELECT ON TABLES TO analytics_reader;
    ALTER DEFAULT PRIVILEGES IN SCHEMA raw GRANT SELECT ON TABLES TO analytics_reader;
END
$$;
