-- Customer tables of the `customers` asset group (profiles, spending, cohorts) and the
-- record of which days each customer asset has materialized.
--
-- A daily partition D means "as of the end of day D" in REPORTING_TIMEZONE. So that a
-- day costs what changed that day, not all history, the tables are versioned: a day
-- writes new versions only for the users (or cohort cells) that changed that day, and
-- the row "as of D" is the version with the greatest valid_from <= D. A re-run of day D
-- deletes the versions with valid_from = D and writes them again.

-- One row per customer asset and materialized day. source_rows is the sum of
-- ingest.touched_hours.rows_ingested over the day's own hours of the raw tables the
-- assets read, as the run saw it: a different sum now means late events reached the day.
CREATE TABLE IF NOT EXISTS marts.customer_days (
    asset text COLLATE "C" NOT NULL,
    day date NOT NULL,
    day_start timestamptz NOT NULL,
    day_end timestamptz NOT NULL CHECK (day_end > day_start),
    rows bigint NOT NULL CHECK (rows >= 0),
    source_rows bigint NOT NULL,
    materialized_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (asset, day)
);
CREATE INDEX IF NOT EXISTS customer_days_materialized_at ON marts.customer_days (asset, materialized_at);

-- customers/user_profiles: one version per user and day on which anything about the user
-- changed (an event of any kind). valid_to is the valid_from of the user's next version
-- (exclusive; NULL: the current one). kyc_event_at / kyc_level_at keep the time of the
-- event that set the status / level, so that a later day merges exactly (events of
-- different days never tie; within a day the greater event_id wins).
CREATE TABLE IF NOT EXISTS marts.customer_profiles (
    user_id text COLLATE "C" NOT NULL,
    valid_from date NOT NULL,
    valid_to date CHECK (valid_to > valid_from),
    first_seen_at timestamptz NOT NULL,
    last_activity_at timestamptz NOT NULL,
    registered_at timestamptz,
    country text COLLATE "C",
    kyc_status text COLLATE "C" NOT NULL CHECK (kyc_status IN ('none', 'pending', 'verified', 'rejected')),
    kyc_event_at timestamptz,
    kyc_level smallint,
    kyc_level_at timestamptz,
    first_success_at timestamptz,
    last_success_at timestamptz,
    success_count bigint NOT NULL CHECK (success_count >= 0),
    main_currency text COLLATE "C",
    PRIMARY KEY (user_id, valid_from)
);
CREATE INDEX IF NOT EXISTS customer_profiles_valid_from ON marts.customer_profiles (valid_from);
CREATE INDEX IF NOT EXISTS customer_profiles_current ON marts.customer_profiles (user_id) WHERE valid_to IS NULL;

-- Lifetime totals of successful transactions per user and currency, versioned the same
-- way (a version per user, currency and day the user moved money in it). Inflow: TOPUP,
-- TRANSFER_IN, REFUND; outflow: PAYMENT, TRANSFER_OUT, WITHDRAWAL, BILL_PAYMENT (as the
-- cashflow marts).
CREATE TABLE IF NOT EXISTS marts.customer_profile_currencies (
    user_id text COLLATE "C" NOT NULL,
    currency text COLLATE "C" NOT NULL,
    valid_from date NOT NULL,
    valid_to date CHECK (valid_to > valid_from),
    inflow numeric NOT NULL,
    outflow numeric NOT NULL,
    inflow_count bigint NOT NULL,
    outflow_count bigint NOT NULL,
    PRIMARY KEY (user_id, currency, valid_from)
);
CREATE INDEX IF NOT EXISTS customer_profile_currencies_valid_from ON marts.customer_profile_currencies (valid_from);

-- customers/spending: spending (successful outflow transactions) per user, calendar month,
-- currency and category ('' = all categories), month to date as of valid_from. A day
-- writes versions for the users who spent that day and for those whose comparison
-- figure moved (they spent on the previous month's day that the comparison now
-- includes). previous_spend is the previous month over the compared days: days 1..d of
-- it while the month is partial (d = valid_from's day of the month, clamped to the
-- previous month's length), the whole previous month once valid_from is the month's last
-- day (the API states the compared days of the day it serves). NULL previous_spend: no
-- spend in those days; change_* are NULL with it. month_share and change_percent are
-- rounded to 6 decimals; top_merchants: the month's largest merchants of the row
-- (spend descending, then id), at most 5, as [{merchant_id, spend, transactions}].
CREATE TABLE IF NOT EXISTS marts.customer_spending (
    user_id text COLLATE "C" NOT NULL,
    month date NOT NULL,
    currency text COLLATE "C" NOT NULL,
    category text COLLATE "C" NOT NULL,
    valid_from date NOT NULL,
    spend numeric NOT NULL,
    transactions bigint NOT NULL,
    month_share numeric,
    previous_spend numeric,
    change_amount numeric,
    change_percent numeric,
    top_merchants jsonb NOT NULL,
    PRIMARY KEY (user_id, month, currency, category, valid_from)
);
CREATE INDEX IF NOT EXISTS customer_spending_valid_from ON marts.customer_spending (valid_from);

-- customers/cohorts: registration cohorts (the local week, Monday start, or month of the
-- user's first user.registered event) by period since registration (0 = the cohort's
-- own week or month). A version per cell and day inside the cell's period: the period so
-- far, as of valid_from. currency '' holds the user counts (revenue NULL); a row per
-- currency holds paying users and revenue in it.
CREATE TABLE IF NOT EXISTS marts.customer_cohorts (
    cohort_grain text COLLATE "C" NOT NULL CHECK (cohort_grain IN ('week', 'month')),
    cohort_start date NOT NULL,
    period integer NOT NULL CHECK (period >= 0),
    currency text COLLATE "C" NOT NULL,
    valid_from date NOT NULL,
    cohort_size bigint NOT NULL,
    active_users bigint NOT NULL,
    paying_users bigint NOT NULL,
    revenue numeric,
    retention_rate numeric,
    PRIMARY KEY (cohort_grain, cohort_start, period, currency, valid_from)
);
CREATE INDEX IF NOT EXISTS customer_cohorts_valid_from ON marts.customer_cohorts (valid_from);

-- Row-level security as for the marts: per-user data is platform-wide (admin scope), so
-- a merchant key sees none of it (api.scope_sees(NULL) is false for merchants).
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['customer_days', 'customer_profiles', 'customer_profile_currencies', 'customer_spending', 'customer_cohorts'] LOOP
        EXECUTE format('ALTER TABLE marts.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('DROP POLICY IF EXISTS api_scope ON marts.%I', t);
        EXECUTE format('CREATE POLICY api_scope ON marts.%I FOR SELECT USING (api.scope_sees(NULL::text))', t);
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'analytics_api') THEN
            EXECUTE format('DROP POLICY IF EXISTS api_scope_required ON marts.%I', t);
            EXECUTE format(
                'CREATE POLICY api_scope_required ON marts.%I AS RESTRICTIVE FOR SELECT TO analytics_api '
                'USING (current_setting(''app.scope'', true) IN (''admin'', ''merchant''))', t);
        END IF;
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'analytics_reader') THEN
            EXECUTE format('GRANT SELECT ON marts.%I TO analytics_reader', t);
        END IF;
    END LOOP;
END
$$;
