-- RFM scores, their incremental state and segment transitions (customers/rfm_scores,
-- customers/segment_transitions; docs/customer-scores.md). The `customers` schema may
-- also be created by the profiles migrations: everything here is IF NOT EXISTS.
CREATE SCHEMA IF NOT EXISTS customers;

-- Successful purchases (PAYMENT, BILL_PAYMENT) per reporting-zone day, user and currency:
-- the only thing RFM reads from raw, written per day at the cost of that day's rows.
CREATE TABLE IF NOT EXISTS customers.rfm_daily_purchases (
    day date NOT NULL,
    user_id text COLLATE "C" NOT NULL,
    currency text COLLATE "C" NOT NULL,
    payments integer NOT NULL CHECK (payments > 0),
    amount numeric NOT NULL,
    PRIMARY KEY (day, user_id, currency)
);

-- One row per day whose purchases are in the table above, with the day's totals: the
-- incremental state of a day is only trusted when its window totals still equal the sum
-- of these (a day recomputed after a late event changes them).
CREATE TABLE IF NOT EXISTS customers.rfm_purchase_days (
    day date PRIMARY KEY,
    payments bigint NOT NULL,
    amount numeric NOT NULL,
    computed_at timestamptz NOT NULL DEFAULT now()
);

-- The look-back window's totals per user and currency as of the end of `day`: purchases,
-- amount and last purchase day over (day - lookback_days, day]. Partitioned by day so a
-- day is replaced with TRUNCATE and old days are dropped whole.
CREATE TABLE IF NOT EXISTS customers.rfm_state (
    day date NOT NULL,
    user_id text COLLATE "C" NOT NULL,
    currency text COLLATE "C" NOT NULL,
    payments integer NOT NULL CHECK (payments > 0),
    amount numeric NOT NULL,
    last_day date NOT NULL
) PARTITION BY RANGE (day);

CREATE TABLE IF NOT EXISTS customers.rfm_state_days (
    day date PRIMARY KEY,
    lookback_days integer NOT NULL,
    -- Totals of the window the state was built over (see rfm_purchase_days).
    payments bigint NOT NULL,
    amount numeric NOT NULL,
    -- 'incremental' (from the previous day's state) or 'full' (from the daily purchases).
    method text NOT NULL CHECK (method IN ('incremental', 'full')),
    computed_at timestamptz NOT NULL DEFAULT now()
);

-- customers/rfm_scores: one row per user with a purchase in the look-back window.
CREATE TABLE IF NOT EXISTS customers.rfm_scores (
    day date NOT NULL,
    user_id text COLLATE "C" NOT NULL,
    currency text COLLATE "C" NOT NULL,
    recency_days integer NOT NULL CHECK (recency_days >= 0),
    frequency integer NOT NULL CHECK (frequency > 0),
    monetary numeric NOT NULL,
    last_purchase_day date NOT NULL,
    r_score smallint NOT NULL,
    f_score smallint NOT NULL,
    m_score smallint NOT NULL,
    segment text NOT NULL,
    PRIMARY KEY (day, user_id)
) PARTITION BY RANGE (day);

-- The breakpoints each day's scores were cut at: recency and frequency over all users
-- (currency ''), monetary per main currency. A score is 1 + the number of breakpoints
-- strictly below the value (recency negated: fewer days is better).
CREATE TABLE IF NOT EXISTS customers.rfm_breakpoints (
    day date NOT NULL,
    measure text NOT NULL CHECK (measure IN ('recency', 'frequency', 'monetary')),
    currency text COLLATE "C" NOT NULL,
    users integer NOT NULL,
    breakpoints numeric[] NOT NULL CHECK (cardinality(breakpoints) = 4),
    PRIMARY KEY (day, measure, currency)
);

CREATE TABLE IF NOT EXISTS customers.rfm_score_days (
    day date PRIMARY KEY,
    lookback_days integer NOT NULL,
    users integer NOT NULL,
    computed_at timestamptz NOT NULL DEFAULT now()
);

-- customers/segment_transitions: users moving from one segment to another between the
-- base day and `day`; '(none)' is "not scored that day" (no purchase in the window).
CREATE TABLE IF NOT EXISTS customers.segment_transitions (
    day date NOT NULL,
    since text NOT NULL CHECK (since IN ('previous_day', '30_days_before')),
    base_day date NOT NULL,
    from_segment text NOT NULL,
    to_segment text NOT NULL,
    users integer NOT NULL CHECK (users > 0),
    PRIMARY KEY (day, since, from_segment, to_segment)
);

CREATE TABLE IF NOT EXISTS customers.segment_transition_days (
    day date PRIMARY KEY,
    rows integer NOT NULL,
    computed_at timestamptz NOT NULL DEFAULT now()
);

-- The partition of `parent` holding `p_day` (created on first use). Runs of different
-- days may create partitions at once: the advisory lock makes that one at a time.
CREATE OR REPLACE FUNCTION customers.day_partition(parent regclass, p_day date)
RETURNS regclass LANGUAGE plpgsql AS $$
DECLARE
    parent_name text := (SELECT relname FROM pg_class WHERE oid = parent);
    name text := parent_name || '_' || to_char(p_day, 'YYYYMMDD');
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('customers.day_partition:' || parent_name));
    IF to_regclass(format('customers.%I', name)) IS NULL THEN
        EXECUTE format('CREATE TABLE customers.%I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
            name, parent, p_day, p_day + 1);
    END IF;
    RETURN format('customers.%I', name)::regclass;
END
$$;

-- Replacing a day's rows: TRUNCATE of its partition instead of deleting a million rows
-- (transactional: readers of that day wait for the run's COMMIT, other days are free).
CREATE OR REPLACE FUNCTION customers.clear_day(parent regclass, p_day date)
RETURNS regclass LANGUAGE plpgsql AS $$
DECLARE
    part regclass := customers.day_partition(parent, p_day);
BEGIN
    EXECUTE format('TRUNCATE %s', part);
    RETURN part;
END
$$;

-- ANALYZE of a day's partition (a fresh partition has no statistics until autovacuum
-- gets to it, and the next statement of the run reads it).
CREATE OR REPLACE FUNCTION customers.analyze_day(parent regclass, p_day date)
RETURNS regclass LANGUAGE plpgsql AS $$
DECLARE
    part regclass := customers.day_partition(parent, p_day);
BEGIN
    EXECUTE format('ANALYZE %s', part);
    RETURN part;
END
$$;

-- The API reads scores and transitions (admin scope only: these are platform-wide user
-- rows, see docs/customer-scores.md for merchant keys). The *_days tables hold no user
-- data and stay readable without a scope: the API's cache watermarks read them.
DO $$
DECLARE
    t text;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'analytics_reader') THEN
        GRANT USAGE ON SCHEMA customers TO analytics_reader;
        GRANT SELECT ON ALL TABLES IN SCHEMA customers TO analytics_reader;
        ALTER DEFAULT PRIVILEGES IN SCHEMA customers GRANT SELECT ON TABLES TO analytics_reader;
    END IF;
    FOREACH t IN ARRAY ARRAY['rfm_scores', 'rfm_breakpoints', 'segment_transitions'] LOOP
        EXECUTE format('ALTER TABLE customers.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('DROP POLICY IF EXISTS api_scope ON customers.%I', t);
        EXECUTE format('CREATE POLICY api_scope ON customers.%I FOR SELECT USING (api.scope_sees(NULL::text))', t);
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'analytics_api') THEN
            EXECUTE format('DROP POLICY IF EXISTS api_scope_required ON customers.%I', t);
            EXECUTE format(
                'CREATE POLICY api_scope_required ON customers.%I AS RESTRICTIVE FOR SELECT TO analytics_api '
                'USING (current_setting(''app.scope'', true) IN (''admin'', ''merchant''))', t);
        END IF;
    END LOOP;
END
$$;
