-- Additive transaction figures summed over named windows of one transactions mart, per
-- currency, for one subject: (dimension, dimension_value) = ('platform', '') or
-- ('merchant', <id>). Per-currency rows only: counts add up across currencies, money
-- does not, and the all-currency row exists for the platform alone.
-- latency_ms_total is sum(avg * count), for count-weighted means. Rendered with {table}.
SELECT
    w.name,
    t.currency,
    sum(t.transaction_count)::bigint AS transaction_count,
    sum(t.success_count)::bigint AS success_count,
    sum(t.failed_count)::bigint AS failed_count,
    sum(t.expired_count)::bigint AS expired_count,
    sum(t.pending_count)::bigint AS pending_count,
    sum(t.refunded_count)::bigint AS refunded_count,
    sum(t.revenue) AS revenue,
    sum(t.retries)::bigint AS retries,
    sum(t.retried_count)::bigint AS retried_count,
    sum(t.retried_success_count)::bigint AS retried_success_count
FROM unnest(%(names)s::text[], %(starts)s::timestamptz[], %(ends)s::timestamptz[])
    AS w(name, window_start, window_end)
JOIN {table} t
    ON t.bucket_start >= w.window_start AND t.bucket_start < w.window_end
WHERE t.dimension = %(dimension)s AND t.dimension_value = %(dimension_value)s
    AND t.currency <> ''
GROUP BY w.name, t.currency
ORDER BY w.name, t.currency
