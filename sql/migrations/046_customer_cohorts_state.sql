-- customers/cohorts' carried state (docs/customers.md, "Cohorts: a carried state"): a day's
-- cells are the previous day's cells plus what the day changed, and these two tables let a
-- day find what changed at the cost of the day's own events.
CREATE SCHEMA IF NOT EXISTS customers;

-- Every user's user.registered events, one row per user and reporting-zone day (the
-- first of that day): a user's cohort as of day D is the week/month of their earliest
-- registered_at over the days <= D.
CREATE TABLE IF NOT EXISTS customers.cohort_registrations (
    user_id text COLLATE "C" NOT NULL,
    day date NOT NULL,
    registered_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, day)
);
CREATE INDEX IF NOT EXISTS cohort_registrations_day ON customers.cohort_registrations (day);

-- Per reporting-zone day, the users with any event that day (currency '', revenue NULL)
-- and, per currency, those who spent (successful PAYMENT, TRANSFER_OUT, WITHDRAWAL,
-- BILL_PAYMENT) with the day's amount: "was the user already active / paying in this
-- period" is a probe of (user_id, day) instead of a read of the period's raw events.
CREATE TABLE IF NOT EXISTS customers.cohort_user_days (
    user_id text COLLATE "C" NOT NULL,
    day date NOT NULL,
    currency text COLLATE "C" NOT NULL,
    revenue numeric,
    PRIMARY KEY (user_id, day, currency)
);
CREATE INDEX IF NOT EXISTS cohort_user_days_day ON customers.cohort_user_days (day);

-- The days whose rows above a cohort run wrote (with every registration up to the day and
-- the user days of its periods so far): a day is computed from the day before only when
-- that day is recorded here.
CREATE TABLE IF NOT EXISTS customers.cohort_state_days (
    day date PRIMARY KEY,
    method text NOT NULL CHECK (method IN ('incremental', 'full')),
    computed_at timestamptz NOT NULL DEFAULT now()
);

-- Per-user rows: admin scope only, as the marts' customer tables.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['cohort_registrations', 'cohort_user_days'] LOOP
        EXECUTE format('ALTER TABLE customers.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('DROP POLICY IF EXISTS api_scope ON customers.%I', t);
        EXECUTE format('CREATE POLICY api_scope ON customers.%I FOR SELECT USING (api.scope_sees(NULL::text))', t);
    END LOOP;
END
$$;
