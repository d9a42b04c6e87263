-- A user's successful transactions per currency over the daily buckets in
-- [window_start, window_end), with the first and last day they moved money.
SELECT
    c.currency,
    sum(c.inflow) AS inflow,
    sum(c.outflow) AS outflow,
    sum(c.net) AS net,
    sum(c.inflow_count)::bigint AS inflow_count,
    sum(c.outflow_count)::bigint AS outflow_count,
    min(c.bucket_start) AS first_day,
    max(c.bucket_start) AS last_day,
    count(DISTINCT c.bucket_start) AS active_days
FROM marts.cashflow_daily c
WHERE c.user_id = %(user_id)s
    AND c.bucket_start >= %(window_start)s AND c.bucket_start < %(window_end)s
GROUP BY ROLLUP (c.currency)
ORDER BY c.currency NULLS FIRST
