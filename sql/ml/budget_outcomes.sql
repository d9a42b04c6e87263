-- BUDGET_ALERT outcomes: each month's spending (successful PAYMENT and BILL_PAYMENT) per
-- (user, category, currency) for the months starting on %(months)s, local days in %(tz)s.
WITH months AS (
    SELECT min(m) AS first_month, max(m) AS last_month
    FROM unnest(%(months)s::date[]) AS u(m)
)
SELECT date_trunc('month', (t.occurred_at AT TIME ZONE %(tz)s))::date AS month,
       t.user_id, t.category, t.currency, sum(t.amount) AS spent
FROM raw.transactions t, months
WHERE t.status = 'SUCCESS'
  AND t.transaction_type IN ('PAYMENT', 'BILL_PAYMENT')
  AND t.category IS NOT NULL
  AND t.occurred_at >= months.first_month::timestamp AT TIME ZONE %(tz)s
  AND t.occurred_at < (months.last_month + interval '1 month')::timestamp AT TIME ZONE %(tz)s
  AND date_trunc('month', (t.occurred_at AT TIME ZONE %(tz)s))::date = ANY(%(months)s::date[])
GROUP BY 1, 2, 3, 4;
