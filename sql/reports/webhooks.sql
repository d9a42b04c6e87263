-- Webhook deliveries of the month and the previous one, all event types, of one merchant
-- ('' = every merchant).
SELECT bucket_start, deliveries, delivered_count, failed_count, retrying_count, success_rate,
    latency_avg_ms, latency_p50_ms, latency_p95_ms
FROM marts.webhooks_monthly
WHERE bucket_start IN (%(month_start)s, %(previous_start)s)
    AND merchant_id = %(merchant)s AND webhook_event_type = ''
ORDER BY bucket_start
