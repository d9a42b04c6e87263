-- ml.user_day_stats of local day %(day)s in %(tz)s: one row per user with a transaction
-- or an app session that day, from that day's raw rows only.
WITH bounds AS (
    SELECT (%(day)s::date::timestamp AT TIME ZONE %(tz)s) AS day_start,
           ((%(day)s::date + 1)::timestamp AT TIME ZONE %(tz)s) AS day_end
),
tx AS (
    SELECT t.user_id,
           min(t.occurred_at) AS first_at,
           max(t.occurred_at) FILTER (WHERE t.status = 'SUCCESS') AS last_success_at,
           count(*) FILTER (WHERE t.status = 'SUCCESS') AS successes,
           count(*) FILTER (WHERE t.status = 'FAILED') AS failures,
           array_agg(DISTINCT t.merchant_id)
               FILTER (WHERE t.status = 'SUCCESS' AND t.merchant_id IS NOT NULL) AS merchants
    FROM raw.transactions t, bounds b
    WHERE t.occurred_at >= b.day_start AND t.occurred_at < b.day_end
    GROUP BY t.user_id
),
act AS (
    SELECT a.user_id, array_agg(DISTINCT a.session_id) AS sessions
    FROM raw.user_activity a, bounds b
    WHERE a.occurred_at >= b.day_start AND a.occurred_at < b.day_end
        AND a.session_id IS NOT NULL
    GROUP BY a.user_id
)
INSERT INTO ml.user_day_stats (
    day, user_id, first_at, last_success_at, successes, failures, merchants, sessions
)
SELECT %(day)s::date, user_id, tx.first_at, tx.last_success_at, coalesce(tx.successes, 0),
       coalesce(tx.failures, 0), coalesce(tx.merchants, '{}'), coalesce(act.sessions, '{}')
FROM tx
FULL JOIN act USING (user_id);
