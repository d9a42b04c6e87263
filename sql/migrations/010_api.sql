-- The read API: its keys, the role its requests run as, and row-level security that keeps
-- a merchant's key to that merchant's rows whatever SQL the API runs.
--
-- Scope travels in two transaction-local settings the API sets at the start of every
-- request's transaction (set_config(..., true), so a pooled connection can never carry a
-- scope into the next request):
--   app.scope        'admin' | 'merchant' (the API's session default is 'none': nothing)
--   app.merchant_id  the merchant of a merchant key
-- Sessions that never set app.scope (ingestion, rollups, analysts in analytics_reader)
-- see what their grants allow, as before this migration. Superusers and table owners
-- bypass row-level security, which is why the API runs its queries as analytics_api.
-- The settings are not a barrier against someone holding database credentials (anyone
-- can set them); they make the database enforce the scope the API authenticated.

-- API keys: only a SHA-256 of the key is stored. The keys are 256-bit random strings, so
-- a fast hash is as good as a slow KDF here (there is no dictionary to try); `prefix` is
-- a short non-secret part of the key, unique, used to find the row and to name the key
-- in listings and logs.
CREATE TABLE IF NOT EXISTS api.api_keys (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    prefix text COLLATE "C" NOT NULL UNIQUE CHECK (prefix ~ '^[0-9a-f]{8,}$'),
    key_hash bytea NOT NULL CHECK (length(key_hash) = 32),
    name text NOT NULL CHECK (name <> ''),
    scope text COLLATE "C" NOT NULL CHECK (scope IN ('admin', 'merchant')),
    merchant_id text COLLATE "C",
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz,
    last_used_at timestamptz,
    CHECK ((scope = 'merchant') = (merchant_id IS NOT NULL AND merchant_id <> ''))
);

-- Whether the current session's scope may see a row that belongs to p_merchant_id (NULL:
-- a row of no single merchant, e.g. a platform total). Inlined by the planner.
CREATE OR REPLACE FUNCTION api.scope_sees(p_merchant_id text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE coalesce(current_setting('app.scope', true), '')
        WHEN '' THEN true
        WHEN 'admin' THEN true
        WHEN 'merchant' THEN coalesce(p_merchant_id = current_setting('app.merchant_id', true), false)
        ELSE false
    END
$$;

-- Checks a presented key and records its use (at most once a minute, so a busy key does
-- not write on every cache refresh). Runs as the migration owner: the API's role can
-- neither read the hashes nor write the table.
CREATE OR REPLACE FUNCTION api.authenticate_key(p_prefix text, p_hash bytea)
RETURNS TABLE (key_id bigint, name text, scope text, merchant_id text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN QUERY
    UPDATE api.api_keys k
    SET last_used_at = CASE
        WHEN k.last_used_at IS NULL OR k.last_used_at < now() - interval '1 minute' THEN now()
        ELSE k.last_used_at END
    WHERE k.prefix = p_prefix AND k.key_hash = p_hash AND k.revoked_at IS NULL
    RETURNING k.id, k.name, k.scope, k.merchant_id;
END
$$;
REVOKE ALL ON FUNCTION api.authenticate_key(text, bytea) FROM PUBLIC;

-- Row-level security on everything the API reads that holds merchant or user data.
-- One permissive policy per table, for every role: merchant rows to their merchant,
-- platform-wide rows (totals, activity, users) to admin scope only.
DO $$
DECLARE
    grain text;
    t text;
    merchant_expr text;
BEGIN
    FOREACH grain IN ARRAY ARRAY['hourly', 'daily', 'weekly', 'monthly'] LOOP
        FOREACH t IN ARRAY ARRAY['transactions', 'failures', 'webhooks', 'cashflow', 'activity', 'user_lifecycle'] LOOP
            merchant_expr := CASE t
                WHEN 'transactions' THEN 'CASE WHEN dimension = ''merchant'' THEN dimension_value END'
                WHEN 'failures' THEN 'CASE WHEN dimension = ''merchant'' THEN dimension_value END'
                WHEN 'webhooks' THEN 'nullif(merchant_id, '''')'
                ELSE 'NULL::text'
            END;
            EXECUTE format('ALTER TABLE marts.%I ENABLE ROW LEVEL SECURITY', t || '_' || grain);
            EXECUTE format('DROP POLICY IF EXISTS api_scope ON marts.%I', t || '_' || grain);
            EXECUTE format('CREATE POLICY api_scope ON marts.%I FOR SELECT USING (api.scope_sees(%s))',
                t || '_' || grain, merchant_expr);
        END LOOP;
    END LOOP;
    -- Raw tables too, where the server allows it: TimescaleDB refuses row-level security
    -- on compressed hypertables. The API reads raw rows only through
    -- api.raw_transactions (below), which applies the same scope itself, so isolation
    -- holds either way. Policies of a partitioned table apply to every query through it.
    FOREACH t IN ARRAY ARRAY['transactions', 'webhook_deliveries', 'wallet_balances', 'user_activity', 'user_events'] LOOP
        merchant_expr := CASE WHEN t IN ('transactions', 'webhook_deliveries') THEN 'merchant_id' ELSE 'NULL::text' END;
        BEGIN
            EXECUTE format('ALTER TABLE raw.%I ENABLE ROW LEVEL SECURITY', t);
            EXECUTE format('DROP POLICY IF EXISTS api_scope ON raw.%I', t);
            EXECUTE format('CREATE POLICY api_scope ON raw.%I FOR SELECT USING (api.scope_sees(%s))', t, merchant_expr);
        EXCEPTION WHEN feature_not_supported OR object_not_in_prerequisite_state THEN
            RAISE WARNING 'no row-level security on raw.% (%); the API reads it through api.raw_transactions only', t, SQLERRM;
        END;
    END LOOP;
END
$$;

-- The raw transactions the API reads (the open hour, today's payments), limited to the
-- session's scope, and to nothing without one (it is the API's view, not analysts').
-- A security barrier: the caller's conditions cannot see rows before the scope check
-- has removed them. Runs with its owner's rights, so it needs no grant on
-- raw.transactions and works where row-level security could not be enabled.
CREATE OR REPLACE VIEW api.raw_transactions WITH (security_barrier = true) AS
SELECT occurred_at, event_id, user_id, transaction_id, merchant_id, amount, currency,
    transaction_type, category, status, payment_method
FROM raw.transactions
WHERE current_setting('app.scope', true) IN ('admin', 'merchant') AND api.scope_sees(merchant_id);

-- The role the API's requests run as (`SET ROLE`, see API_DB_ROLE): no BYPASSRLS, owns
-- nothing. In production the deploy script creates it as a login role in
-- analytics_reader; locally it is created here. The migration owner may lack CREATEROLE:
-- then a DBA creates it once (see docs/production.md) and migrate is run again.
DO $$
DECLARE
    t text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'analytics_api') THEN
        BEGIN
            CREATE ROLE analytics_api NOLOGIN NOBYPASSRLS;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE WARNING 'cannot create role analytics_api (%); ask a DBA to run: '
                'CREATE ROLE analytics_api NOLOGIN IN ROLE analytics_reader; then run migrate again', SQLERRM;
            RETURN;
        END;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'analytics_reader')
            AND NOT pg_has_role('analytics_api', 'analytics_reader', 'MEMBER') THEN
        BEGIN
            GRANT analytics_reader TO analytics_api;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE WARNING 'cannot add analytics_api to analytics_reader (%); ask a DBA to run: '
                'GRANT analytics_reader TO analytics_api', SQLERRM;
        END;
    END IF;
    -- Freshness of the raw tail the realtime endpoint reads.
    GRANT USAGE ON SCHEMA ingest TO analytics_api;
    GRANT SELECT ON ingest.touched_hours TO analytics_api;
    GRANT EXECUTE ON FUNCTION api.authenticate_key(text, bytea) TO analytics_api;
    GRANT SELECT ON api.raw_transactions TO analytics_api;
    -- A session of the API role without a scope sees nothing, even if the API's own
    -- session default ('none') were reset: restrictive policies AND with the one above.
    FOREACH t IN ARRAY (
        SELECT array_agg(format('%I.%I', n.nspname, c.relname))
        FROM pg_policy p
        JOIN pg_class c ON c.oid = p.polrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE p.polname = 'api_scope'
    ) LOOP
        EXECUTE format('DROP POLICY IF EXISTS api_scope_required ON %s', t);
        EXECUTE format(
            'CREATE POLICY api_scope_required ON %s AS RESTRICTIVE FOR SELECT TO analytics_api '
            'USING (current_setting(''app.scope'', true) IN (''admin'', ''merchant''))', t);
    END LOOP;
END
$$;

-- Key hashes are for api.authenticate_key only (005's default privileges granted SELECT).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'analytics_reader') THEN
        REVOKE ALL ON api.api_keys FROM analytics_reader;
    END IF;
END
$$;

-- The API revalidates its response cache against the newest materialization per mart
-- (once a second): this makes that an index probe per mart instead of a table scan.
CREATE INDEX IF NOT EXISTS rollup_buckets_mart_materialized_at
    ON marts.rollup_buckets (mart, materialized_at);
