-- Move SPENDING_TREND's carried cells from day %(day)s - 1 to day %(day)s: window w holds
-- the local days (day - window_days x (w + 1), day - window_days x w], so each window
-- gains one day and loses one; only the day rows of those window_days x k days ago
-- (k = 0 .. windows) change windows: each is added to its new window and taken from its
-- old one. (Cells left with no day row are deleted by spending_trend_cells_drop_empty.sql.)
WITH slices AS (
    SELECT s.user_id, s.currency, s.category, %(day)s::date - s.day AS age,
           s.spend, s.purchases, s.sum_sq
    FROM ml.spend_day_stats s
    -- An array, not IN (subquery): probed in the primary key, not a scan of every day.
    WHERE s.day = ANY (ARRAY(SELECT %(day)s::date - %(window_days)s * k
                             FROM generate_series(0, %(windows)s) AS k))
),
moves AS (
    SELECT user_id, currency, category, (age / %(window_days)s)::smallint AS w, 1 AS sign,
           spend, purchases, sum_sq
    FROM slices
    WHERE age < %(window_days)s * %(windows)s
    UNION ALL
    SELECT user_id, currency, category, ((age - 1) / %(window_days)s)::smallint, -1,
           spend, purchases, sum_sq
    FROM slices
    WHERE age >= 1
)
INSERT INTO ml.spending_trend_cells AS c
    (user_id, currency, category, w, day_rows, spend_rows, spend, purchases, sum_sq)
SELECT user_id, currency, category, w,
       sum(sign),
       coalesce(sum(sign) FILTER (WHERE spend IS NOT NULL), 0),
       coalesce(sum(sign * spend), 0),
       sum(sign * purchases),
       coalesce(sum(sign * sum_sq), 0)
FROM moves
GROUP BY 1, 2, 3, 4
ON CONFLICT (user_id, currency, category, w) DO UPDATE
SET day_rows = c.day_rows + excluded.day_rows,
    spend_rows = c.spend_rows + excluded.spend_rows,
    spend = c.spend + excluded.spend,
    purchases = c.purchases + excluded.purchases,
    sum_sq = c.sum_sq + excluded.sum_sq;
