-- The recommendations API (issue 14): the API reads recommendations.daily and writes its
-- one table, recommendations.dismissals. Nothing on schema ml is granted to any API role
-- (070: ml.models holds pickles, and unpickling runs code).
--
-- Scope: recommendations are rows of one wallet user, platform-wide data like the
-- customers tables (045), so admin scope only; merchant keys see nothing here (the
-- routes answer them 403 ANA_AUTH_003 first, docs/recommendations.md says why).

-- One row per dismissal through the API. Dismissals are kept (negative feedback for the
-- next training, and the cool-down: recommendations of the same user and type stay
-- hidden for RECOMMENDATION_DISMISS_COOLDOWN_DAYS after dismissed_at). No foreign key to
-- recommendations.daily: a re-run of a day deletes and rewrites its rows (same ids), and
-- the dismissal must outlive that.
CREATE TABLE IF NOT EXISTS recommendations.dismissals (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    recommendation_id uuid NOT NULL,
    user_id text COLLATE "C" NOT NULL,
    type text COLLATE "C" NOT NULL,
    -- The day of the dismissed row (recommendations.daily.day) and its model: what the
    -- user turned down, for the training that reads this table.
    recommendation_day date NOT NULL,
    model_name text NOT NULL,
    model_version integer,
    dismissed_at timestamptz NOT NULL,
    -- api.api_keys.id of the key that dismissed it (no foreign key: keys are revoked,
    -- never deleted, but the audit row must not block that either way).
    key_id bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS dismissals_user_type
    ON recommendations.dismissals (user_id, type, dismissed_at);
CREATE INDEX IF NOT EXISTS dismissals_recommendation
    ON recommendations.dismissals (recommendation_id);

-- Row-level security, as on the marts and customers tables: admin scope reads and
-- writes; a merchant scope, or no scope, nothing.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['daily', 'dismissals'] LOOP
        EXECUTE format('ALTER TABLE recommendations.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('DROP POLICY IF EXISTS api_scope ON recommendations.%I', t);
        EXECUTE format(
            'CREATE POLICY api_scope ON recommendations.%I FOR SELECT USING (api.scope_sees(NULL::text))', t);
    END LOOP;
    DROP POLICY IF EXISTS api_scope_insert ON recommendations.dismissals;
    CREATE POLICY api_scope_insert ON recommendations.dismissals FOR INSERT
        WITH CHECK (api.scope_sees(NULL::text));
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'analytics_api') THEN
        GRANT USAGE ON SCHEMA recommendations TO analytics_api;
        GRANT SELECT ON recommendations.daily TO analytics_api;
        -- SELECT too: the cool-down and the idempotent dismiss read earlier dismissals.
        GRANT SELECT, INSERT ON recommendations.dismissals TO analytics_api;
        FOREACH t IN ARRAY ARRAY['daily', 'dismissals'] LOOP
            EXECUTE format('DROP POLICY IF EXISTS api_scope_required ON recommendations.%I', t);
            EXECUTE format(
                'CREATE POLICY api_scope_required ON recommendations.%I AS RESTRICTIVE FOR ALL TO analytics_api '
                'USING (current_setting(''app.scope'', true) IN (''admin'', ''merchant'')) '
                'WITH CHECK (current_setting(''app.scope'', true) IN (''admin'', ''merchant''))', t);
        END LOOP;
    END IF;
    -- Analysts (and the training, which runs as the owner anyway) read both tables.
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'analytics_reader') THEN
        GRANT USAGE ON SCHEMA recommendations TO analytics_reader;
        GRANT SELECT ON recommendations.daily, recommendations.dismissals TO analytics_reader;
    END IF;
END
$$;
