-- SPENDING_TREND evidence of day %(day)s: per user, currency, window and category, the
-- net spend of successful PAYMENT and BILL_PAYMENT transactions less REFUNDs (a refund
-- carries its payment's category). Window 0 is the %(window_days)s local days ending with
-- the day in %(tz)s, window k the %(window_days)s days before window k-1; %(windows)s
-- windows in all. Other successful transactions (top-ups, transfers, withdrawals) come
-- with spend NULL: they only say that the user was active in that currency and window.
-- Reads nothing at or after the end of the day.
SELECT t.user_id,
       t.currency,
       (%(day)s::date - (t.occurred_at AT TIME ZONE %(tz)s)::date) / %(window_days)s AS window_index,
       t.category,
       sum(CASE WHEN t.transaction_type = 'REFUND' THEN -t.amount ELSE t.amount END)
           FILTER (WHERE t.transaction_type IN ('PAYMENT', 'BILL_PAYMENT', 'REFUND')) AS spend
FROM raw.transactions t
WHERE t.status = 'SUCCESS'
  AND t.occurred_at >= ((%(day)s::date + 1 - %(window_days)s * %(windows)s)::timestamp AT TIME ZONE %(tz)s)
  AND t.occurred_at < ((%(day)s::date + 1)::timestamp AT TIME ZONE %(tz)s)
GROUP BY 1, 2, 3, 4
ORDER BY 1, 2, 4, 3;
