-- Webhook deliveries of the month and the previous one, all event types, per report scope
-- (merchant '' = every merchant, the platform's; %(scope)s NULL = every scope).
SELECT merchant_id AS scope, bucket_start, deliveries, delivered_count, failed_count,
    retrying_count, success_rate, latency_avg_ms, latency_p50_ms, latency_p95_ms
FROM marts.webhooks_monthly
WHERE bucket_start IN (%(month_start)s, %(previous_start)s) AND webhook_event_type = ''
    AND (%(scope)s::text IS NULL OR merchant_id = %(scope)s)
ORDER BY scope, bucket_start
