-- The cohort cells whose period contains day %(day)s, as of its end: for each grain, every
-- cohort registered so far against the period that holds the day (week from
-- %(week_start)s, month from %(month_start)s). A user's cohort is the local week/month
-- of their first user.registered event; active means any event (activity, transaction
-- of any status, lifecycle) in the period so far; paying means a successful PAYMENT,
-- TRANSFER_OUT, WITHDRAWAL or BILL_PAYMENT, and revenue is their amount. Row currency ''
-- counts payers in any currency (revenue NULL: never summed across currencies); a row
-- per currency has that currency's payers and revenue, with the same size and actives.
-- Users who never registered belong to no cohort.
INSERT INTO marts.customer_cohorts (
    cohort_grain, cohort_start, period, currency, valid_from, cohort_size, active_users,
    paying_users, revenue, retention_rate
)
WITH registered AS (
    SELECT user_id COLLATE "C" AS user_id, min(occurred_at) AS registered_at
    FROM raw.user_events
    WHERE event_type = 'user.registered' AND occurred_at < %(window_end)s
    GROUP BY 1
),
periods (grain, period_start, period_day) AS (
    VALUES ('week', %(week_start)s::timestamptz, %(week_day)s::date),
        ('month', %(month_start)s::timestamptz, %(month_day)s::date)
),
cohort AS (
    SELECT r.user_id, p.grain, p.period_start, p.period_day,
        (date_trunc(p.grain, r.registered_at, %(tz)s) AT TIME ZONE %(tz)s)::date AS cohort_start
    FROM registered r
    CROSS JOIN periods p
),
sizes AS (
    SELECT grain, period_start, period_day, cohort_start, count(*) AS cohort_size
    FROM cohort
    GROUP BY 1, 2, 3, 4
),
events AS (
    SELECT user_id, occurred_at FROM raw.transactions
    WHERE occurred_at >= %(scan_start)s AND occurred_at < %(window_end)s
    UNION ALL
    SELECT user_id, occurred_at FROM raw.user_activity
    WHERE occurred_at >= %(scan_start)s AND occurred_at < %(window_end)s
    UNION ALL
    SELECT user_id, occurred_at FROM raw.user_events
    WHERE occurred_at >= %(scan_start)s AND occurred_at < %(window_end)s
),
active AS (
    SELECT c.grain, c.cohort_start, count(DISTINCT c.user_id) AS active_users
    FROM (SELECT user_id COLLATE "C" AS user_id, max(occurred_at) AS last_at FROM events GROUP BY 1) e
    JOIN cohort c ON c.user_id = e.user_id AND e.last_at >= c.period_start
    GROUP BY 1, 2
),
payments AS (
    SELECT user_id COLLATE "C" AS user_id, currency COLLATE "C" AS currency, occurred_at, amount
    FROM raw.transactions
    WHERE occurred_at >= %(scan_start)s AND occurred_at < %(window_end)s
        AND status = 'SUCCESS'
        AND transaction_type IN ('PAYMENT', 'TRANSFER_OUT', 'WITHDRAWAL', 'BILL_PAYMENT')
),
paying AS (
    SELECT c.grain, c.cohort_start, coalesce(p.currency, '') AS currency,
        count(DISTINCT p.user_id) AS paying_users, sum(p.amount) AS revenue
    FROM payments p
    JOIN cohort c ON c.user_id = p.user_id AND p.occurred_at >= c.period_start
    GROUP BY GROUPING SETS ((c.grain, c.cohort_start), (c.grain, c.cohort_start, p.currency))
)
SELECT s.grain, s.cohort_start,
    CASE s.grain
        WHEN 'week' THEN (s.period_day - s.cohort_start) / 7
        ELSE (extract(year FROM s.period_day)::int - extract(year FROM s.cohort_start)::int) * 12
            + extract(month FROM s.period_day)::int - extract(month FROM s.cohort_start)::int
    END,
    coalesce(pay.currency, ''),
    %(day)s,
    s.cohort_size,
    coalesce(a.active_users, 0),
    coalesce(pay.paying_users, 0),
    CASE WHEN pay.currency <> '' THEN pay.revenue END,
    round(coalesce(a.active_users, 0)::numeric / s.cohort_size, 6)
FROM sizes s
LEFT JOIN active a ON a.grain = s.grain AND a.cohort_start = s.cohort_start
LEFT JOIN paying pay ON pay.grain = s.grain AND pay.cohort_start = s.cohort_start
WHERE s.cohort_start <= s.period_day
