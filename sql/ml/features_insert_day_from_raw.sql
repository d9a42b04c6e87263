-- The feature rows of day %(day)s (see ml.user_features) straight from the raw tables:
-- events in the 90 days before the end of the day in %(tz)s, nothing at or after it.
-- The definition of every feature; features_insert_day.sql computes the same values from
-- ml.user_day_stats and is used when the windows are whole local days
-- (features_windows_aligned.sql), this file otherwise (a DST change in the window).
WITH bounds AS (
    SELECT ((%(day)s::date + 1)::timestamp AT TIME ZONE %(tz)s) AS as_of
),
tx AS (
    SELECT t.user_id, t.occurred_at, t.status, t.merchant_id,
           extract(epoch FROM b.as_of - t.occurred_at) / 86400.0 AS age_days,
           (t.occurred_at AT TIME ZONE %(tz)s)::date AS local_day
    FROM raw.transactions t, bounds b
    WHERE t.occurred_at >= b.as_of - interval '90 days' AND t.occurred_at < b.as_of
),
per_user AS (
    SELECT user_id,
           min(age_days) FILTER (WHERE status = 'SUCCESS') AS recency_days,
           max(age_days) AS first_seen_days,
           count(*) FILTER (WHERE status = 'SUCCESS' AND age_days <= 7) AS tx_7d,
           count(*) FILTER (WHERE status = 'SUCCESS' AND age_days > 7 AND age_days <= 14) AS tx_prev_7d,
           count(*) FILTER (WHERE status = 'SUCCESS' AND age_days <= 30) AS tx_30d,
           count(DISTINCT local_day) FILTER (WHERE status = 'SUCCESS' AND age_days <= 30) AS active_days_30d,
           count(*) FILTER (WHERE status = 'FAILED' AND age_days <= 7) AS failed_7d,
           count(*) FILTER (WHERE status = 'FAILED' AND age_days <= 30) AS failed_30d,
           count(DISTINCT merchant_id) FILTER (WHERE status = 'SUCCESS' AND age_days <= 30) AS merchants_30d
    FROM tx
    GROUP BY user_id
),
sessions AS (
    SELECT a.user_id, count(DISTINCT a.session_id) AS sessions_14d
    FROM raw.user_activity a, bounds b
    WHERE a.occurred_at >= b.as_of - interval '14 days' AND a.occurred_at < b.as_of
      AND a.session_id IS NOT NULL
    GROUP BY a.user_id
)
INSERT INTO ml.user_features (
    day, user_id, recency_days, first_seen_days, tx_7d, tx_prev_7d, tx_30d,
    active_days_30d, failed_7d, failed_30d, merchants_30d, sessions_14d
)
SELECT %(day)s::date, p.user_id, p.recency_days, p.first_seen_days, p.tx_7d, p.tx_prev_7d,
       p.tx_30d, p.active_days_30d, p.failed_7d, p.failed_30d, p.merchants_30d,
       coalesce(s.sessions_14d, 0)
FROM per_user p
LEFT JOIN sessions s USING (user_id)
WHERE p.recency_days IS NOT NULL;
