-- The wallet window cells of day %(day)s summed from the day rows of the
-- %(window_days)s x %(windows)s local days ending with it (the full computation; they
-- are moved from it day by day, wallet_window_cells_move.sql). In key order: the rules
-- read them in that order, and the moves update them in place.
INSERT INTO ml.wallet_window_cells (user_id, currency, w, day_rows, credits, debits)
SELECT s.user_id, s.currency, ((%(day)s::date - s.day) / %(window_days)s)::smallint,
       count(*), sum(s.credits), sum(s.debits)
FROM ml.wallet_day_stats s
WHERE s.day > %(day)s::date - %(window_days)s * %(windows)s
  AND s.day <= %(day)s::date
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3;
