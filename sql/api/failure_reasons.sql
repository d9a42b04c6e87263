-- FAILED transactions per failure reason over [window_start, window_end) of one
-- failures mart, for one subject (('platform', '') or ('merchant', <id>)).
-- Rendered with {table}.
SELECT
    f.failure_reason AS reason,
    sum(f.failure_count)::bigint AS count,
    sum(f.retries)::bigint AS retries
FROM {table} f
WHERE f.dimension = %(dimension)s AND f.dimension_value = %(dimension_value)s
    AND f.bucket_start >= %(window_start)s AND f.bucket_start < %(window_end)s
GROUP BY f.failure_reason
ORDER BY count DESC, reason
