-- SAVINGS_GOAL's and INVESTMENT's carried state (analytics_platform/ml/
-- wallet_window_cells.py): the credits and debits of ml.wallet_day_stats per user,
-- currency and 30-day window as of one day, moved by a few day-slices a day as
-- ml.spending_trend_cells (migration 082) is. UNLOGGED, both tables: a crash empties them
-- together, and an empty state is summed again from the 180 days.
CREATE UNLOGGED TABLE IF NOT EXISTS ml.wallet_window_cells (
    user_id text COLLATE "C" NOT NULL,
    currency text NOT NULL,
    w smallint NOT NULL,
    -- The day rows summed (wallets x days); 0: the cell is gone.
    day_rows integer NOT NULL,
    credits numeric NOT NULL,
    debits numeric NOT NULL,
    PRIMARY KEY (user_id, currency, w)
) WITH (fillfactor = 70);  -- room for a moved cell's new version on its page (HOT)

-- At most one row: the day (zone, windows) the cells are as of, when they were written,
-- and the one scale of every non-zero credit and debit summed (NULL when they differ): a
-- moved sum keeps a scale a fresh sum would drop, which only a zero may show (a day row
-- without credits holds 0), and the rules use the values only.
CREATE UNLOGGED TABLE IF NOT EXISTS ml.wallet_window_cells_state (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    day date NOT NULL,
    tz text NOT NULL,
    window_days integer NOT NULL,
    windows integer NOT NULL,
    amount_scale integer,
    written_at timestamptz NOT NULL
);
