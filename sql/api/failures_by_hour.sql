-- FAILED transactions by hour of day (in the presentation zone) over the hourly buckets
-- of one subject in [window_start, window_end). Rendered with {table}.
SELECT
    extract(hour FROM f.bucket_start AT TIME ZONE %(tz)s)::int AS hour,
    sum(f.failure_count)::bigint AS count
FROM {table} f
WHERE f.dimension = %(dimension)s AND f.dimension_value = %(dimension_value)s
    AND f.bucket_start >= %(window_start)s AND f.bucket_start < %(window_end)s
GROUP BY 1
ORDER BY 1
