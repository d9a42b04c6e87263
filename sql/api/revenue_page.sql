-- One page of revenue rows of a transactions mart: buckets starting in
-- [window_start, window_end), dimension rows (optionally one value), per currency, in
-- (group, bucket, currency) order after the cursor's key: the order of the
-- (dimension, dimension_value, bucket_start) index, so a page reads only its rows.
-- Rendered with {table}.
SELECT
    t.bucket_start,
    t.dimension_value AS group_value,
    t.currency,
    t.revenue,
    t.transaction_count,
    t.success_count,
    t.refund_count,
    t.refund_amount
FROM {table} t
WHERE t.dimension = %(dimension)s
    AND (%(dimension_value)s::text IS NULL OR t.dimension_value = %(dimension_value)s)
    AND t.currency <> ''
    AND t.bucket_start >= %(window_start)s AND t.bucket_start < %(window_end)s
    AND (t.dimension_value, t.bucket_start, t.currency)
        > (%(after_group)s::text, %(after_bucket)s::timestamptz, %(after_currency)s::text)
ORDER BY t.dimension_value, t.bucket_start, t.currency
LIMIT %(limit)s
