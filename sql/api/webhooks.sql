-- Webhook deliveries of one merchant ('' = all merchants) over the buckets of a webhooks
-- mart in [window_start, window_end), per webhook event type ('' = all types).
-- latency_ms_total is sum(avg * deliveries), for a delivery-weighted mean.
-- Rendered with {table}.
SELECT
    w.webhook_event_type AS event_type,
    sum(w.deliveries)::bigint AS deliveries,
    sum(w.delivered_count)::bigint AS delivered,
    sum(w.failed_count)::bigint AS failed,
    sum(w.retrying_count)::bigint AS retrying,
    sum(w.retry_attempts)::bigint AS retry_attempts,
    sum(w.latency_avg_ms * w.deliveries)::double precision AS latency_ms_total
FROM {table} w
WHERE w.merchant_id = %(merchant_id)s
    AND w.bucket_start >= %(window_start)s AND w.bucket_start < %(window_end)s
GROUP BY w.webhook_event_type
ORDER BY w.webhook_event_type
