-- One user's ('' = the platform) cashflow rows of a cashflow mart for the buckets
-- starting in [window_start, window_end), per currency, in bucket order.
-- Rendered with {table}.
SELECT c.bucket_start, c.currency, c.inflow, c.outflow, c.net, c.inflow_count, c.outflow_count
FROM {table} c
WHERE c.user_id = %(user_id)s
    AND c.bucket_start >= %(window_start)s AND c.bucket_start < %(window_end)s
ORDER BY c.bucket_start, c.currency
