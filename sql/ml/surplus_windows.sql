-- SAVINGS_GOAL evidence of day %(day)s: per user, currency and window, the wallet
-- credits and debits (raw.wallet_balances: every change of every wallet, summed over
-- the user's wallets of one currency, never across currencies). Window 0 is the
-- %(window_days)s local days ending with the day in %(tz)s, window k the %(window_days)s
-- days before window k-1; %(windows)s windows in all. Reads nothing at or after the end
-- of the day.
SELECT w.user_id,
       w.currency,
       (%(day)s::date - (w.occurred_at AT TIME ZONE %(tz)s)::date) / %(window_days)s AS window_index,
       coalesce(sum(w.change_amount) FILTER (WHERE w.change_type = 'CREDIT'), 0) AS credits,
       coalesce(sum(w.change_amount) FILTER (WHERE w.change_type = 'DEBIT'), 0) AS debits
FROM raw.wallet_balances w
WHERE w.occurred_at >= ((%(day)s::date + 1 - %(window_days)s * %(windows)s)::timestamp AT TIME ZONE %(tz)s)
  AND w.occurred_at < ((%(day)s::date + 1)::timestamp AT TIME ZONE %(tz)s)
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3;
