-- Activity rollup of one grain over [window_start, window_end): distinct active users and
-- sessions per bucket and device type (device_type '' = all devices). Distinct counts
-- come from raw for the window, so a day's active_users is DAU, a week's WAU and a
-- month's MAU, never a sum of smaller windows. A session ends with its `logout` event,
-- which carries the session's length in duration_seconds.
-- Rendered per grain: {table} is the mart, {grain} the date_trunc unit. Text keys sort in
-- byte order ("C"): faster, and equal strings group exactly as before.
WITH source AS (
    SELECT
        date_trunc({grain}, occurred_at, %(tz)s) AS bucket_start,
        device_type COLLATE "C" AS device_type,
        user_id COLLATE "C" AS user_id,
        session_id COLLATE "C" AS session_id,
        activity_type = 'logout' AS is_logout,
        duration_seconds
    FROM raw.user_activity
    WHERE occurred_at >= %(window_start)s AND occurred_at < %(window_end)s
)
INSERT INTO {table} (
    bucket_start, device_type, active_users, sessions, events, sessions_ended, avg_session_seconds
)
SELECT
    bucket_start,
    coalesce(device_type, ''),
    count(DISTINCT user_id),
    count(DISTINCT session_id),
    count(*),
    count(*) FILTER (WHERE is_logout),
    avg(duration_seconds) FILTER (WHERE is_logout)
FROM source
GROUP BY GROUPING SETS ((bucket_start), (bucket_start, device_type))
HAVING GROUPING(device_type) = 1 OR device_type IS NOT NULL
