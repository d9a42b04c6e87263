-- INVESTMENT evidence of day %(day)s, per user and currency (wallets of one currency
-- summed, never across currencies):
-- - held_balance: the sum over the user's wallets of each wallet's lowest balance in the
--   %(held_days)s local days ending with the day in %(tz)s: the lowest of the balances
--   before and after each change in those days, or, for a wallet without a change in
--   them, its balance after its last change in the look-back before them. A sum of
--   per-wallet minimums never exceeds what the user held at any instant.
-- - window_debits: the debits per %(window_days)s-day window (window 0 ends with the
--   day), as an array indexed by window, over %(spend_windows)s windows.
-- The look-back is %(lookback_days)s days: a wallet silent for longer is not seen.
-- Reads nothing at or after the end of the day.
WITH bounds AS (
    SELECT ((%(day)s::date + 1)::timestamp AT TIME ZONE %(tz)s) AS as_of,
           ((%(day)s::date + 1 - %(held_days)s)::timestamp AT TIME ZONE %(tz)s) AS held_start,
           ((%(day)s::date + 1 - %(lookback_days)s)::timestamp AT TIME ZONE %(tz)s) AS lookback_start
),
per_window AS (
    -- One pass over the look-back: per wallet and window, the lowest balance (before or
    -- after a change) in the held days, the last change before them, and the debits.
    SELECT w.user_id, w.wallet_id, w.currency,
           (%(day)s::date - (w.occurred_at AT TIME ZONE %(tz)s)::date) / %(window_days)s AS window_index,
           min(least(w.balance, CASE WHEN w.change_type = 'CREDIT' THEN w.balance - w.change_amount
                                     ELSE w.balance + w.change_amount END))
               FILTER (WHERE w.occurred_at >= b.held_start) AS held_low,
           max(w.occurred_at) FILTER (WHERE w.occurred_at < b.held_start) AS last_before,
           sum(w.change_amount) FILTER (WHERE w.change_type = 'DEBIT') AS debits
    FROM raw.wallet_balances w, bounds b
    WHERE w.occurred_at >= b.lookback_start AND w.occurred_at < b.as_of
    GROUP BY 1, 2, 3, 4
),
per_wallet AS (
    SELECT user_id, wallet_id, currency, min(held_low) AS held_low, max(last_before) AS last_before
    FROM per_window
    GROUP BY 1, 2, 3
),
held AS (
    -- A wallet without a change in the held days held its balance after its last change
    -- (looked up by the (wallet_id, occurred_at) index only for those wallets).
    SELECT p.user_id, p.currency, count(*) AS wallets,
           sum(coalesce(p.held_low, (
               SELECT w.balance
               FROM raw.wallet_balances w
               WHERE w.wallet_id = p.wallet_id AND w.occurred_at = p.last_before
               ORDER BY w.event_id DESC
               LIMIT 1))) AS held_balance
    FROM per_wallet p
    GROUP BY 1, 2
),
debits AS (
    SELECT user_id, currency, window_index, sum(debits) AS debits
    FROM per_window
    WHERE window_index < %(spend_windows)s AND debits IS NOT NULL
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
