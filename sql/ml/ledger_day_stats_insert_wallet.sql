-- ml.wallet_day_stats of local day %(day)s in %(tz)s, from that day's wallet changes
-- only. The closing balance is the last change's (by time, then event_id), the one
-- sql/ml/idle_balance.sql looks up for a wallet quiet in its held days.
INSERT INTO ml.wallet_day_stats (
    day, user_id, wallet_id, currency, credits, debits, low_balance, closing_balance
)
SELECT %(day)s::date, w.user_id, w.wallet_id, w.currency,
       coalesce(sum(w.change_amount) FILTER (WHERE w.change_type = 'CREDIT'), 0),
       coalesce(sum(w.change_amount) FILTER (WHERE w.change_type = 'DEBIT'), 0),
       min(least(w.balance, CASE WHEN w.change_type = 'CREDIT' THEN w.balance - w.change_amount
                                 ELSE w.balance + w.change_amount END)),
       (array_agg(w.balance ORDER BY w.occurred_at DESC, w.event_id DESC))[1]
FROM raw.wallet_balances w
WHERE w.occurred_at >= (%(day)s::date::timestamp AT TIME ZONE %(tz)s)
  AND w.occurred_at < ((%(day)s::date + 1)::timestamp AT TIME ZONE %(tz)s)
GROUP BY w.user_id, w.wallet_id, w.currency;
