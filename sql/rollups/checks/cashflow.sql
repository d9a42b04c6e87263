-- Reconciliation totals of a cashflow mart over [window_start, window_end): per bucket,
-- the movements on its platform rows ('mart') and, when %(with_raw)s, the SUCCESS
-- transactions raw holds for the same bucket ('raw'). Rendered with {table} and its {grain}.
SELECT 'mart' AS source, bucket_start, sum(inflow_count + outflow_count) AS total
FROM {table}
WHERE bucket_start >= %(window_start)s AND bucket_start < %(window_end)s
    AND user_id = ''
GROUP BY bucket_start
UNION ALL
SELECT 'raw', date_trunc({grain}, occurred_at, %(tz)s), count(*)
FROM raw.transactions
WHERE %(with_raw)s AND occurred_at >= %(window_start)s AND occurred_at < %(window_end)s
    AND status = 'SUCCESS'
GROUP BY 2
