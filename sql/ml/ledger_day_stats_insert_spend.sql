-- ml.spend_day_stats of local day %(day)s in %(tz)s, from that day's successful
-- transactions only (the sums of sql/ml/spending_trend.sql's cells, per day).
INSERT INTO ml.spend_day_stats (day, user_id, currency, category, spend, purchases, sum_sq)
SELECT %(day)s::date, t.user_id, t.currency, t.category,
       sum(CASE WHEN t.transaction_type = 'REFUND' THEN -t.amount ELSE t.amount END)
           FILTER (WHERE t.transaction_type IN ('PAYMENT', 'BILL_PAYMENT', 'REFUND')),
       count(*) FILTER (WHERE t.transaction_type IN ('PAYMENT', 'BILL_PAYMENT')),
       sum(t.amount * t.amount) FILTER (WHERE t.transaction_type IN ('PAYMENT', 'BILL_PAYMENT'))
FROM raw.transactions t
WHERE t.status = 'SUCCESS'
  AND t.occurred_at >= (%(day)s::date::timestamp AT TIME ZONE %(tz)s)
  AND t.occurred_at < ((%(day)s::date + 1)::timestamp AT TIME ZONE %(tz)s)
GROUP BY t.user_id, t.currency, t.category;
