-- ml.budget_day_spend: what BUDGET_ALERT's features need of one local day's raw rows
-- (successful PAYMENT and BILL_PAYMENT amounts and their count per user, category and
-- currency: the `daily` rows of sql/ml/budget_features.sql), so that a day's scoring
-- reads up to four months of narrow daily rows instead of re-aggregating them from
-- raw.transactions (issue 14's benchmark: 137 CPU us per user at 20,000 users before).
-- `day` is a local date in the time zone recorded for it in ml.budget_day_spend_days; a
-- row exists only where the user paid at least once that day. A day is replaced whole
-- (delete + insert in one transaction) from that day's raw rows.
CREATE TABLE IF NOT EXISTS ml.budget_day_spend (
    day date NOT NULL,
    user_id text COLLATE "C" NOT NULL,
    category text NOT NULL,
    currency text NOT NULL,
    spent numeric NOT NULL,
    tx integer NOT NULL CHECK (tx > 0),
    PRIMARY KEY (day, user_id, category, currency)
);

-- One row per day held above: the time zone its local day was cut in, and the sum of
-- ingest.touched_hours.rows_ingested over the day's hours of raw.transactions when it
-- was built: a different sum now means late events reached the day, which is then
-- rebuilt before it is read (as ml.ledger_day_stats_days).
CREATE TABLE IF NOT EXISTS ml.budget_day_spend_days (
    day date PRIMARY KEY,
    tz text NOT NULL,
    source_rows bigint NOT NULL,
    spend_rows integer NOT NULL,
    built_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
