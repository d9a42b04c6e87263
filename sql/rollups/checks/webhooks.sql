-- Reconciliation totals of a webhooks mart over [window_start, window_end): per bucket,
-- the attempts on its total row ('mart') and, when %(with_raw)s, the rows raw holds for
-- the same bucket ('raw'). Rendered with {table} and its {grain}.
SELECT 'mart' AS source, bucket_start, sum(deliveries) AS total
FROM {table}
WHERE bucket_start >= %(window_start)s AND bucket_start < %(window_end)s
    AND merchant_id = '' AND webhook_event_type = ''
GROUP BY bucket_start
UNION ALL
SELECT 'raw', date_trunc({grain}, occurred_at, %(tz)s), count(*)
FROM raw.webhook_deliveries
WHERE %(with_raw)s AND occurred_at >= %(window_start)s AND occurred_at < %(window_end)s
GROUP BY 2
