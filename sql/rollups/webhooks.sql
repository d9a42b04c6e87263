-- Webhooks rollup of one grain over [window_start, window_end): delivery attempts per
-- bucket, merchant and webhook event type ('' = all of them), with outcomes, retries and
-- exact latency percentiles. Rendered per grain: {table} is the mart, {grain} the
-- date_trunc unit. Text keys sort in byte order ("C"): faster, and equal strings group
-- exactly as before.
WITH source AS (
    SELECT
        date_trunc({grain}, occurred_at, %(tz)s) AS bucket_start,
        merchant_id COLLATE "C" AS merchant_id,
        webhook_event_type COLLATE "C" AS webhook_event_type,
        status, attempt, latency_ms
    FROM raw.webhook_deliveries
    WHERE occurred_at >= %(window_start)s AND occurred_at < %(window_end)s
),
grouped AS (
    SELECT
        bucket_start,
        coalesce(merchant_id, '') AS merchant_id,
        coalesce(webhook_event_type, '') AS webhook_event_type,
        count(*) AS deliveries,
        count(*) FILTER (WHERE status = 'DELIVERED') AS delivered_count,
        count(*) FILTER (WHERE status = 'FAILED') AS failed_count,
        count(*) FILTER (WHERE status = 'RETRYING') AS retrying_count,
        count(*) FILTER (WHERE attempt > 1) AS retry_attempts,
        avg(latency_ms) AS latency_avg_ms,
        percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY latency_ms) AS latency
    FROM source
    GROUP BY GROUPING SETS (
        (bucket_start),
        (bucket_start, merchant_id),
        (bucket_start, webhook_event_type),
        (bucket_start, merchant_id, webhook_event_type)
    )
)
INSERT INTO {table} (
    bucket_start, merchant_id, webhook_event_type, deliveries, delivered_count,
    failed_count, retrying_count, success_rate, retry_attempts,
    latency_avg_ms, latency_p50_ms, latency_p95_ms
)
SELECT
    bucket_start, merchant_id, webhook_event_type, deliveries, delivered_count,
    failed_count, retrying_count,
    delivered_count::numeric / nullif(delivered_count + failed_count, 0),
    retry_attempts, latency_avg_ms, latency[1], latency[2]
FROM grouped
