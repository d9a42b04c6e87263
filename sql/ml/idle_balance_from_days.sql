-- INVESTMENT evidence of day %(day)s from ml.wallet_day_stats: the same rows as
-- idle_balance.sql (the raw-reading reference, read where local days are not whole; its
-- header says what each column means), from the daily rows of the %(lookback_days)s
-- local days ending with the day: a wallet's held balance is its lowest daily low in the
-- %(held_days)s held days or, without a change in them, the closing balance of its last
-- day with a change before them.
WITH per_window AS (
    -- One hashed pass over the look-back, as the reference's (no sort by day).
    SELECT w.user_id, w.wallet_id, w.currency,
           (%(day)s::date - w.day) / %(window_days)s AS window_index,
           min(w.low_balance) FILTER (WHERE w.day > %(day)s::date - %(held_days)s) AS held_low,
           max(w.day) FILTER (WHERE w.day <= %(day)s::date - %(held_days)s) AS last_before,
           sum(w.debits) AS debits
    FROM ml.wallet_day_stats w
    WHERE w.day > %(day)s::date - %(lookback_days)s AND w.day <= %(day)s::date
    GROUP BY 1, 2, 3, 4
),
per_wallet AS (
    SELECT user_id, wallet_id, currency, min(held_low) AS held_low, max(last_before) AS last_before
    FROM per_window
    GROUP BY 1, 2, 3
),
held AS (
    -- Looked up by the primary key only for wallets without a change in the held days.
    SELECT p.user_id, p.currency, count(*) AS wallets,
           sum(coalesce(p.held_low, (
               SELECT w.closing_balance
               FROM ml.wallet_day_stats w
               WHERE w.day = p.last_before AND w.user_id = p.user_id
                 AND w.wallet_id = p.wallet_id AND w.currency = p.currency))) AS held_balance
    FROM per_wallet p
    GROUP BY 1, 2
),
debits AS (
    SELECT user_id, currency, window_index, sum(debits) AS debits
    FROM per_window
    WHERE window_index < %(spend_windows)s
    GROUP BY 1, 2, 3
),
spend AS (
    SELECT h.user_id, h.currency,
           array_agg(coalesce(d.debits, 0) ORDER BY s.window_index) AS window_debits
    FROM held h
    CROSS JOIN generate_series(0, %(spend_windows)s - 1) AS s(window_index)
    LEFT JOIN debits d
      ON d.user_id = h.user_id AND d.currency = h.currency AND d.window_index = s.window_index
    GROUP BY 1, 2
)
SELECT h.user_id, h.currency, h.held_balance, h.wallets, s.window_debits
FROM held h
JOIN spend s ON s.user_id = h.user_id AND s.currency = h.currency
ORDER BY h.user_id, h.currency;
