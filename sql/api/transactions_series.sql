-- One subject's rows of a transactions mart for the buckets starting in
-- [window_start, window_end), per currency and (platform only) across currencies
-- (currency ''), in bucket order. Rendered with {table}.
SELECT
    t.bucket_start,
    t.currency,
    t.transaction_count, t.success_count, t.failed_count, t.expired_count,
    t.pending_count, t.refunded_count, t.revenue, t.unique_payers,
    t.latency_avg_ms::double precision AS latency_avg_ms,
    t.latency_p50_ms, t.latency_p95_ms, t.latency_p99_ms
FROM {table} t
WHERE t.dimension = %(dimension)s AND t.dimension_value = %(dimension_value)s
    AND t.bucket_start >= %(window_start)s AND t.bucket_start < %(window_end)s
ORDER BY t.bucket_start, t.currency
