-- Failures rollup of one grain over [window_start, window_end): FAILED transactions per
-- bucket, dimension (platform, merchant, payment_method) and failure_reason, with the
-- reason's share of the failures of the same bucket, dimension and value.
-- Rendered per grain: {table} is the mart, {grain} the date_trunc unit. Text keys sort in
-- byte order ("C"): faster, and equal strings group exactly as before.
WITH source AS (
    SELECT
        date_trunc({grain}, occurred_at, %(tz)s) AS bucket_start,
        merchant_id COLLATE "C" AS merchant_id,
        payment_method COLLATE "C" AS payment_method,
        -- FAILED requires a reason (events.py); '' would only show a contract breach.
        coalesce(failure_reason, '') COLLATE "C" AS failure_reason,
        user_id COLLATE "C" AS user_id,
        retry_count
    FROM raw.transactions
    WHERE occurred_at >= %(window_start)s AND occurred_at < %(window_end)s
        AND status = 'FAILED'
),
grouped AS (
    SELECT
        bucket_start,
        CASE
            WHEN GROUPING(merchant_id) = 0 THEN 'merchant'
            WHEN GROUPING(payment_method) = 0 THEN 'payment_method'
            ELSE 'platform'
        END AS dimension,
        coalesce(merchant_id, payment_method, '') AS dimension_value,
        failure_reason,
        count(*) AS failure_count,
        count(DISTINCT user_id) AS affected_users,
        sum(retry_count) AS retries
    FROM source
    GROUP BY GROUPING SETS (
        (bucket_start, failure_reason),
        (bucket_start, merchant_id, failure_reason),
        (bucket_start, payment_method, failure_reason)
    )
    HAVING GROUPING(merchant_id) = 1 OR merchant_id IS NOT NULL
)
INSERT INTO {table} (
    bucket_start, dimension, dimension_value, failure_reason,
    failure_count, failure_share, affected_users, retries
)
SELECT
    bucket_start, dimension, dimension_value, failure_reason,
    failure_count,
    failure_count::numeric
        / sum(failure_count) OVER (PARTITION BY bucket_start, dimension, dimension_value),
    affected_users, retries
FROM grouped
