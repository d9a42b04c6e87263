-- Move the wallet window cells from day %(day)s - 1 to day %(day)s, as
-- spending_trend_cells_move.sql does: the day rows of the days window_days x k ago
-- (k = 0 .. windows) added to their new window and taken from their old one.
WITH slices AS (
    -- An array, not IN (subquery): probed in the primary key, not a scan of every day.
    SELECT s.user_id, s.currency, %(day)s::date - s.day AS age, s.credits, s.debits
    FROM ml.wallet_day_stats s
    WHERE s.day = ANY (ARRAY(SELECT %(day)s::date - %(window_days)s * k
                             FROM generate_series(0, %(windows)s) AS k))
),
moves AS (
    SELECT user_id, currency, (age / %(window_days)s)::smallint AS w, 1 AS sign, credits, debits
    FROM slices
    WHERE age < %(window_days)s * %(windows)s
    UNION ALL
    SELECT user_id, currency, ((age - 1) / %(window_days)s)::smallint, -1, credits, debits
    FROM slices
    WHERE age >= 1
)
INSERT INTO ml.wallet_window_cells AS c (user_id, currency, w, day_rows, credits, debits)
SELECT user_id, currency, w, sum(sign), sum(sign * credits), sum(sign * debits)
FROM moves
GROUP BY 1, 2, 3
ON CONFLICT (user_id, currency, w) DO UPDATE
SET day_rows = c.day_rows + excluded.day_rows,
    credits = c.credits + excluded.credits,
    debits = c.debits + excluded.debits;
