-- SAVINGS_GOAL evidence of day %(day)s from ml.wallet_day_stats: the same rows as
-- surplus_windows.sql (the raw-reading reference, read where local days are not whole),
-- the windows' credits and debits as sums of the daily rows of the
-- %(window_days)s x %(windows)s local days ending with the day.
SELECT w.user_id,
       w.currency,
       (%(day)s::date - w.day) / %(window_days)s AS window_index,
       sum(w.credits) AS credits,
       sum(w.debits) AS debits
FROM ml.wallet_day_stats w
WHERE w.day > %(day)s::date - %(window_days)s * %(windows)s
  AND w.day <= %(day)s::date
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3;
