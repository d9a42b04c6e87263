-- Transactions by hour of day (in the presentation zone) over the hourly buckets of one
-- subject in [window_start, window_end), per currency. Rendered with {table}.
SELECT
    extract(hour FROM t.bucket_start AT TIME ZONE %(tz)s)::int AS hour,
    t.currency,
    sum(t.transaction_count)::bigint AS transaction_count,
    sum(t.success_count)::bigint AS success_count,
    sum(t.revenue) AS revenue
FROM {table} t
WHERE t.dimension = %(dimension)s AND t.dimension_value = %(dimension_value)s
    AND t.currency <> ''
    AND t.bucket_start >= %(window_start)s AND t.bucket_start < %(window_end)s
GROUP BY 1, 2
ORDER BY 1, 2
