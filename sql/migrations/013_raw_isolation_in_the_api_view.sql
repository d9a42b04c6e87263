-- Raw-data isolation moves from row-level security on the raw tables to the one place
-- the API reads raw rows: the security-barrier view api.raw_transactions (010), which
-- applies api.scope_sees itself. TimescaleDB cannot compress a hypertable that has row
-- security ("columnstore cannot be used on table with row security"), and compression
-- of raw data matters more than a second barrier in front of it. So:
-- - the raw tables get no row-level security and no API policies;
-- - the API role (through analytics_reader, whose member it is in every deployment)
--   loses SELECT on raw.*: a merchant key cannot reach raw rows except through the view,
--   whatever SQL the API runs. The view needs no grant on raw: it runs with its owner's
--   rights. Analysts who need raw rows get a role of their own (docs/timescaledb.md).
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['transactions', 'webhook_deliveries', 'wallet_balances', 'user_activity', 'user_events'] LOOP
        EXECUTE format('DROP POLICY IF EXISTS api_scope ON raw.%I', t);
        EXECUTE format('DROP POLICY IF EXISTS api_scope_required ON raw.%I', t);
        EXECUTE format('ALTER TABLE raw.%I DISABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE raw.%I NO FORCE ROW LEVEL SECURITY', t);
    END LOOP;
END
$$;

DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['analytics_reader', 'analytics_api'] LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            -- Every table in raw, native partitions included (a query through the parent
            -- checks only the parent, but a partition can be named directly). TimescaleDB
            -- passes a hypertable's REVOKE on to its chunks.
            EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA raw FROM %I', r);
            EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA raw REVOKE ALL ON TABLES FROM %I', r);
            EXECUTE format('REVOKE USAGE ON SCHEMA raw FROM %I', r);
        END IF;
    END LOOP;
END
$$;
