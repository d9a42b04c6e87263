-- The user days of [user_days_from, window_end): per local day, a row (currency '') for
-- every user with any event (activity, transaction of any status, lifecycle), and a row
-- per currency with the day's spending (successful PAYMENT, TRANSFER_OUT, WITHDRAWAL,
-- BILL_PAYMENT), the same events cohorts_insert_day.sql reads.
INSERT INTO customers.cohort_user_days (user_id, day, currency, revenue)
SELECT user_id, (occurred_at AT TIME ZONE %(tz)s)::date, '', NULL::numeric
FROM (
    SELECT user_id, occurred_at FROM raw.transactions
    WHERE occurred_at >= %(user_days_from)s AND occurred_at < %(window_end)s
    UNION ALL
    SELECT user_id, occurred_at FROM raw.user_activity
    WHERE occurred_at >= %(user_days_from)s AND occurred_at < %(window_end)s
    UNION ALL
    SELECT user_id, occurred_at FROM raw.user_events
    WHERE occurred_at >= %(user_days_from)s AND occurred_at < %(window_end)s
) e
GROUP BY 1, 2
UNION ALL
SELECT user_id, (occurred_at AT TIME ZONE %(tz)s)::date, currency, sum(amount)
FROM raw.transactions
WHERE occurred_at >= %(user_days_from)s AND occurred_at < %(window_end)s
    AND status = 'SUCCESS'
    AND transaction_type IN ('PAYMENT', 'TRANSFER_OUT', 'WITHDRAWAL', 'BILL_PAYMENT')
GROUP BY 1, 2, 3
