-- customers/spending's carried state (docs/customers.md, "Spending: a carried state"): a
-- day's rows are the changed users' rows of the day before plus the day's transactions,
-- and the top merchants need every merchant's month to date, not only the top five the
-- mart keeps: this table holds it, versioned like the mart (the latest valid_from <= D is
-- the month to date as of D).
CREATE SCHEMA IF NOT EXISTS customers;

CREATE TABLE IF NOT EXISTS customers.spending_merchants (
    user_id text COLLATE "C" NOT NULL,
    month date NOT NULL,
    currency text COLLATE "C" NOT NULL,
    -- '' = over all categories
    category text COLLATE "C" NOT NULL,
    merchant_id text COLLATE "C" NOT NULL,
    valid_from date NOT NULL,
    spend numeric NOT NULL,
    transactions bigint NOT NULL,
    PRIMARY KEY (user_id, month, currency, category, merchant_id, valid_from)
);
CREATE INDEX IF NOT EXISTS spending_merchants_valid_from ON customers.spending_merchants (valid_from);

-- The days a spending run wrote with their state: a day is computed from the day before
-- only when that day is recorded here (or the day is the 1st: a month starts empty).
CREATE TABLE IF NOT EXISTS customers.spending_state_days (
    day date PRIMARY KEY,
    method text NOT NULL CHECK (method IN ('incremental', 'full')),
    computed_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE customers.spending_merchants ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS api_scope ON customers.spending_merchants;
CREATE POLICY api_scope ON customers.spending_merchants FOR SELECT USING (api.scope_sees(NULL::text));
