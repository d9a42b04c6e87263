-- ml.budget_day_spend of local day %(day)s in %(tz)s, from that day's raw rows only: the
-- `daily` rows of budget_features.sql (the same filter, cut at the same local midnights).
INSERT INTO ml.budget_day_spend (day, user_id, category, currency, spent, tx)
SELECT %(day)s::date, t.user_id, t.category, t.currency, sum(t.amount), count(*)
FROM raw.transactions t
WHERE t.status = 'SUCCESS'
  AND t.transaction_type IN ('PAYMENT', 'BILL_PAYMENT')
  AND t.category IS NOT NULL
  AND t.occurred_at >= (%(day)s::date::timestamp AT TIME ZONE %(tz)s)
  AND t.occurred_at < ((%(day)s::date + 1)::timestamp AT TIME ZONE %(tz)s)
GROUP BY t.user_id, t.category, t.currency;
