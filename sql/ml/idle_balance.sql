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
           ((%(day)s::date + 1 - %(window_days)s * %(spend_windows)s)::timestamp AT TIME ZONE %(tz)s) AS spend_start,
           ((%(day)s::date + 1 - %(lookback_days)s)::timestamp AT TIME ZONE %(tz)s) AS lookback_start
),
changes AS (
    SELECT w.user_id, w.wallet_id, w.currency, w.occurred_at, w.event_id, w.balance,
           w.change_amount, w.change_type
    FROM raw.wallet_balances w, bounds b
    WHERE w.occurred_at >= b.lookback_start AND w.occurred_at < b.as_of
),
held_in_window AS (
    SELECT c.user_id, c.wallet_id, c.currency,
           min(least(c.balance, CASE WHEN c.change_type = 'CREDIT' THEN c.balance - c.change_amount
                                     ELSE c.balance + c.change_amount END)) AS low
    FROM changes c, bounds b
    WHERE c.occurred_at >= b.held_start
    GROUP BY 1, 2, 3
),
held_before AS (
    SELECT DISTINCT ON (c.wallet_id) c.user_id, c.wallet_id, c.currency, c.balance AS low
    FROM changes c, bounds b
    WHERE c.occurred_at < b.held_start
    ORDER BY c.wallet_id, c.occurred_at DESC, c.event_id DESC
),
wallet_low AS (
    SELECT user_id, wallet_id, currency, low FROM held_in_window
    UNION ALL
    SELECT p.user_id, p.wallet_id, p.currency, p.low
    FROM held_before p
    WHERE NOT EXISTS (SELECT 1 FROM held_in_window h WHERE h.wallet_id = p.wallet_id)
),
held AS (
    SELECT user_id, currency, sum(low) AS held_balance, count(*) AS wallets
    FROM wallet_low
    GROUP BY 1, 2
),
debits AS (
    SELECT c.user_id, c.currency,
           (%(day)s::date - (c.occurred_at AT TIME ZONE %(tz)s)::date) / %(window_days)s AS window_index,
           sum(c.change_amount) AS debits
    FROM changes c, bounds b
    WHERE c.occurred_at >= b.spend_start AND c.change_type = 'DEBIT'
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
JOIN spend s USING (user_id, currency)
ORDER BY h.user_id, h.currency;
