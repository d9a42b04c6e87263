-- ml.spend_day_stats and ml.wallet_day_stats: what the rule-based recommendations
-- (SPENDING_TREND, SAVINGS_GOAL, INVESTMENT) need of one local day's raw rows, so that a
-- day's rules read up to 180 small daily rows per user instead of re-reading 180 days of
-- raw.transactions and raw.wallet_balances (issue 14's benchmark: 484 ms of PostgreSQL
-- CPU per 1,000 users before). `day` is a local date in the time zone recorded for it in
-- ml.ledger_day_stats_days. A day is replaced whole (both tables, delete + insert in one
-- transaction) from that day's raw rows.

-- Successful transactions per user, currency and category. spend, purchases and sum_sq
-- are those of sql/ml/spending_trend.sql: spend = PAYMENT + BILL_PAYMENT - REFUND (NULL
-- when the day had none of those: the row then only marks the currency active),
-- purchases and sum_sq over PAYMENT and BILL_PAYMENT (sum_sq NULL without purchases).
CREATE TABLE IF NOT EXISTS ml.spend_day_stats (
    day date NOT NULL,
    user_id text COLLATE "C" NOT NULL,
    currency text NOT NULL,
    category text NOT NULL,
    spend numeric,
    purchases integer NOT NULL CHECK (purchases >= 0),
    sum_sq numeric,
    PRIMARY KEY (day, user_id, currency, category)
);

-- Wallet changes per user, wallet and currency: credits and debits (0 when none), the
-- lowest balance before or after any change of the day, and the balance after the day's
-- last change (by time, then event_id, as sql/ml/idle_balance.sql picks it).
CREATE TABLE IF NOT EXISTS ml.wallet_day_stats (
    day date NOT NULL,
    user_id text COLLATE "C" NOT NULL,
    wallet_id text NOT NULL,
    currency text NOT NULL,
    credits numeric NOT NULL,
    debits numeric NOT NULL,
    low_balance numeric NOT NULL,
    closing_balance numeric NOT NULL,
    PRIMARY KEY (day, user_id, wallet_id, currency)
);

-- One row per day held above: the time zone its local day was cut in, and the sum of
-- ingest.touched_hours.rows_ingested over the day's hours of raw.transactions and
-- raw.wallet_balances when it was built: a different sum now means late events reached
-- the day, which is then rebuilt before a rule reads it (as ml.user_day_stats_days).
CREATE TABLE IF NOT EXISTS ml.ledger_day_stats_days (
    day date PRIMARY KEY,
    tz text NOT NULL,
    source_rows bigint NOT NULL,
    spend_rows integer NOT NULL,
    wallet_rows integer NOT NULL,
    built_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
