-- What day [window_start, window_end) says about each user who has any event in it:
-- the day's share of every profile field, merged with the previous version next.
-- Ties within the day (same occurred_at) go to the greater event_id.
CREATE TEMP TABLE profile_day AS
WITH seen AS (
    SELECT user_id, occurred_at FROM raw.transactions
    WHERE occurred_at >= %(window_start)s AND occurred_at < %(window_end)s
    UNION ALL
    SELECT user_id, occurred_at FROM raw.user_activity
    WHERE occurred_at >= %(window_start)s AND occurred_at < %(window_end)s
    UNION ALL
    SELECT user_id, occurred_at FROM raw.user_events
    WHERE occurred_at >= %(window_start)s AND occurred_at < %(window_end)s
),
users AS (
    SELECT user_id COLLATE "C" AS user_id, min(occurred_at) AS first_at, max(occurred_at) AS last_at
    FROM seen
    GROUP BY 1
),
success AS (
    SELECT user_id COLLATE "C" AS user_id,
        min(occurred_at) AS first_success_at,
        max(occurred_at) AS last_success_at,
        count(*) AS success_count
    FROM raw.transactions
    WHERE occurred_at >= %(window_start)s AND occurred_at < %(window_end)s AND status = 'SUCCESS'
    GROUP BY 1
),
lifecycle AS (
    SELECT user_id COLLATE "C" AS user_id, occurred_at, event_id, event_type, kyc_level, country
    FROM raw.user_events
    WHERE occurred_at >= %(window_start)s AND occurred_at < %(window_end)s
),
registration AS (
    SELECT DISTINCT ON (user_id) user_id, occurred_at AS registered_at, country
    FROM lifecycle
    WHERE event_type = 'user.registered'
    ORDER BY user_id, occurred_at, event_id
),
kyc AS (
    SELECT DISTINCT ON (user_id) user_id, occurred_at AS kyc_event_at,
        CASE event_type
            WHEN 'user.kyc_submitted' THEN 'pending'
            WHEN 'user.kyc_verified' THEN 'verified'
            WHEN 'user.kyc_rejected' THEN 'rejected'
        END AS kyc_status
    FROM lifecycle
    WHERE event_type IN ('user.kyc_submitted', 'user.kyc_verified', 'user.kyc_rejected')
    ORDER BY user_id, occurred_at DESC, event_id DESC
),
level AS (
    SELECT DISTINCT ON (user_id) user_id, occurred_at AS kyc_level_at, kyc_level
    FROM lifecycle
    WHERE kyc_level IS NOT NULL
    ORDER BY user_id, occurred_at DESC, event_id DESC
)
SELECT u.user_id, u.first_at, u.last_at,
    r.registered_at, r.country,
    k.kyc_status, k.kyc_event_at,
    l.kyc_level, l.kyc_level_at,
    s.first_success_at, s.last_success_at, coalesce(s.success_count, 0) AS success_count
FROM users u
LEFT JOIN registration r USING (user_id)
LEFT JOIN kyc k USING (user_id)
LEFT JOIN level l USING (user_id)
LEFT JOIN success s USING (user_id)
