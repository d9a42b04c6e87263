-- Activity rows of one device type ('' = all) for the buckets starting in
-- [window_start, window_end). Rendered with {table}.
SELECT a.bucket_start, a.active_users, a.sessions, a.events, a.sessions_ended,
    a.avg_session_seconds::double precision AS avg_session_seconds
FROM {table} a
WHERE a.device_type = %(device_type)s
    AND a.bucket_start >= %(window_start)s AND a.bucket_start < %(window_end)s
ORDER BY a.bucket_start
