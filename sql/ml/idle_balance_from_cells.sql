-- INVESTMENT evidence of day %(day)s: the same rows as idle_balance_from_days.sql (and so
-- idle_balance.sql; its header says what each column means), the spend windows' debits
-- read from the wallet window cells (made the day's by wallet_window_cells.prepare), so
-- that the look-back's day rows are grouped per wallet for the held balance only.
WITH per_wallet AS (
    -- One hashed pass over the look-back, a group per wallet (minimum and maximum only).
    SELECT w.user_id, w.wallet_id, w.currency,
           min(w.low_balance) FILTER (WHERE w.day > %(day)s::date - %(held_days)s) AS held_low,
           max(w.day) FILTER (WHERE w.day <= %(day)s::date - %(held_days)s) AS last_before
    FROM ml.wallet_day_stats w
    WHERE w.day > %(day)s::date - %(lookback_days)s AND w.day <= %(day)s::date
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
spend AS (
    SELECT h.user_id, h.currency,
           array_agg(coalesce(d.debits, 0) ORDER BY s.window_index) AS window_debits
    FROM held h
    CROSS JOIN generate_series(0, %(spend_windows)s - 1) AS s(window_index)
    LEFT JOIN ml.wallet_window_cells d
      ON d.user_id = h.user_id AND d.currency = h.currency AND d.w = s.window_index
    GROUP BY 1, 2
)
SELECT h.user_id, h.currency, h.held_balance, h.wallets, s.window_debits
FROM held h
JOIN spend s ON s.user_id = h.user_id AND s.currency = h.currency
ORDER BY h.user_id, h.currency;
