-- Reconciliation totals of a merchant breakdown mart over [window_start, window_end): per
-- bucket, the transactions on its category rows ('mart': every merchant transaction has
-- exactly one category) and, when %(with_raw)s, the merchant transactions raw holds for
-- the same bucket ('raw'). Rendered with {table} and its {grain}.
SELECT 'mart' AS source, bucket_start, sum(transaction_count) AS total
FROM {table}
WHERE bucket_start >= %(window_start)s AND bucket_start < %(window_end)s
    AND dimension = 'category'
GROUP BY bucket_start
UNION ALL
SELECT 'raw', date_trunc({grain}, occurred_at, %(tz)s), count(*)
FROM raw.transactions
WHERE %(with_raw)s AND occurred_at >= %(window_start)s AND occurred_at < %(window_end)s
    AND merchant_id IS NOT NULL
GROUP BY 2
