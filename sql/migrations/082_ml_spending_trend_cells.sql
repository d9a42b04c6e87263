-- SPENDING_TREND's carried state (analytics_platform/ml/spending_trend_cells.py): the
-- sums of ml.spend_day_stats per user, currency, category and 30-day window as of one
-- day, so that the next day moves them by a few day-slices (each window gains one day
-- and loses one) instead of re-summing 180 days (issue 14: the sum was about 40 % of
-- the step). UNLOGGED, both tables: a crash empties them together, and an empty state
-- means the next day sums the 180 days again (the full computation).

-- Per cell: the day rows summed (day_rows: 0 means the cell is gone), those with a spend
-- (spend_rows: 0 means the full sum's spend is NULL), and the sums of spend, purchases and
-- sum_sq (0 where the full sum is NULL: the rule reads them coalesced). A day moves about
-- a fifth of the cells (-25 % of the move's CPU with the free space, at 20,000 users).
CREATE UNLOGGED TABLE IF NOT EXISTS ml.spending_trend_cells (
    user_id text COLLATE "C" NOT NULL,
    currency text NOT NULL,
    category text NOT NULL,
    w smallint NOT NULL,
    day_rows integer NOT NULL,
    spend_rows integer NOT NULL,
    spend numeric NOT NULL,
    purchases bigint NOT NULL,
    sum_sq numeric NOT NULL,
    PRIMARY KEY (user_id, currency, category, w)
) WITH (fillfactor = 70);  -- room for a moved cell's new version on its page (HOT)

-- At most one row: the day (and zone and windows) the cells are as of, when they were
-- written, and the one scale of every spend and sum_sq summed (NULL when they differ): a
-- sum moved by subtraction keeps its scale, a fresh sum takes its rows' largest, so the
-- state moves only while every day row has these scales (amounts in cents, as generated).
CREATE UNLOGGED TABLE IF NOT EXISTS ml.spending_trend_cells_state (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    day date NOT NULL,
    tz text NOT NULL,
    window_days integer NOT NULL,
    windows integer NOT NULL,
    spend_scale integer,
    sum_sq_scale integer,
    written_at timestamptz NOT NULL
);
