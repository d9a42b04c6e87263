-- SPENDING_TREND's cells of day %(day)s summed from the day rows of the
-- %(window_days)s x %(windows)s local days ending with it (the full computation; the
-- carried state is moved from it day by day, spending_trend_cells_move.sql).
INSERT INTO ml.spending_trend_cells
    (user_id, currency, category, w, day_rows, spend_rows, spend, purchases, sum_sq)
SELECT s.user_id, s.currency, s.category,
       ((%(day)s::date - s.day) / %(window_days)s)::smallint,
       count(*), count(s.spend), coalesce(sum(s.spend), 0), sum(s.purchases),
       coalesce(sum(s.sum_sq), 0)
FROM ml.spend_day_stats s
WHERE s.day > %(day)s::date - %(window_days)s * %(windows)s
  AND s.day <= %(day)s::date
GROUP BY 1, 2, 3, 4
-- In key order: the rule reads every cell in that order (by the primary key), and the
-- moves update cells in place.
ORDER BY 1, 2, 3, 4;
