-- The feature rows of day %(day)s (see ml.user_features) from the 90 daily rows per user
-- of ml.user_day_stats (local days in %(tz)s), equal to features_insert_day_from_raw.sql
-- (the definition) when the windows are whole local days (features_windows_aligned.sql):
-- 7 days = local days D-6..D, 8-14 days ago = D-13..D-7, 30 = D-29..D, 90 = D-89..D.
-- recency and first_seen come from the extreme timestamps, with the same arithmetic.
WITH bounds AS (
    SELECT ((%(day)s::date + 1)::timestamp AT TIME ZONE %(tz)s) AS as_of
),
per_user AS (
    SELECT s.user_id,
           max(s.last_success_at) AS last_success_at,
           min(s.first_at) AS first_at,
           sum(s.successes) FILTER (WHERE s.day > %(day)s::date - 7) AS tx_7d,
           sum(s.successes) FILTER (
               WHERE s.day BETWEEN %(day)s::date - 13 AND %(day)s::date - 7
           ) AS tx_prev_7d,
           sum(s.successes) FILTER (WHERE s.day > %(day)s::date - 30) AS tx_30d,
           count(*) FILTER (WHERE s.successes > 0 AND s.day > %(day)s::date - 30) AS active_days_30d,
           sum(s.failures) FILTER (WHERE s.day > %(day)s::date - 7) AS failed_7d,
           sum(s.failures) FILTER (WHERE s.day > %(day)s::date - 30) AS failed_30d
    FROM ml.user_day_stats s
    WHERE s.day > %(day)s::date - 90 AND s.day <= %(day)s::date
    GROUP BY s.user_id
    HAVING max(s.last_success_at) IS NOT NULL
),
merchants AS (
    SELECT s.user_id, count(DISTINCT m.merchant_id) AS merchants_30d
    FROM ml.user_day_stats s
    CROSS JOIN LATERAL unnest(s.merchants) AS m (merchant_id)
    WHERE s.day > %(day)s::date - 30 AND s.day <= %(day)s::date
    GROUP BY s.user_id
),
sessions AS (
    SELECT s.user_id, count(DISTINCT x.session_id) AS sessions_14d
    FROM ml.user_day_stats s
    CROSS JOIN LATERAL unnest(s.sessions) AS x (session_id)
    WHERE s.day > %(day)s::date - 14 AND s.day <= %(day)s::date
    GROUP BY s.user_id
)
INSERT INTO ml.user_features (
    day, user_id, recency_days, first_seen_days, tx_7d, tx_prev_7d, tx_30d,
    active_days_30d, failed_7d, failed_30d, merchants_30d, sessions_14d
)
SELECT %(day)s::date, p.user_id,
       extract(epoch FROM b.as_of - p.last_success_at) / 86400.0,
       extract(epoch FROM b.as_of - p.first_at) / 86400.0,
       coalesce(p.tx_7d, 0), coalesce(p.tx_prev_7d, 0), coalesce(p.tx_30d, 0),
       p.active_days_30d, coalesce(p.failed_7d, 0), coalesce(p.failed_30d, 0),
       coalesce(m.merchants_30d, 0), coalesce(x.sessions_14d, 0)
FROM per_user p
CROSS JOIN bounds b
LEFT JOIN merchants m USING (user_id)
LEFT JOIN sessions x USING (user_id);
