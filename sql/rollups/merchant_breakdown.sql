-- Merchant breakdown rollup of one grain over [window_start, window_end): per bucket,
-- merchant, currency and either category or payment method, the transactions by outcome
-- and revenue (SUCCESS amounts). Rendered per grain: {table} is the mart, {grain} the
-- date_trunc unit. Only additive aggregates, so one hashed pass over the window holds
-- just the groups (merchants x categories and methods x currencies), whatever the bucket
-- size; text keys in byte order ("C"), grouping equal strings exactly as the other files.
WITH source AS (
    SELECT
        date_trunc({grain}, occurred_at, %(tz)s) AS bucket_start,
        merchant_id COLLATE "C" AS merchant_id,
        category COLLATE "C" AS category,
        payment_method COLLATE "C" AS payment_method,
        currency COLLATE "C" AS currency,
        status = 'SUCCESS' AS is_success,
        status = 'FAILED' AS is_failed,
        status = 'EXPIRED' AS is_expired,
        amount
    FROM raw.transactions
    WHERE occurred_at >= %(window_start)s AND occurred_at < %(window_end)s
        AND merchant_id IS NOT NULL
)
INSERT INTO {table} (
    bucket_start, merchant_id, dimension, dimension_value, currency,
    transaction_count, success_count, failed_count, expired_count, revenue
)
SELECT
    bucket_start,
    merchant_id,
    CASE WHEN GROUPING(category) = 0 THEN 'category' ELSE 'payment_method' END,
    coalesce(category, payment_method),
    currency,
    count(*),
    count(*) FILTER (WHERE is_success),
    count(*) FILTER (WHERE is_failed),
    count(*) FILTER (WHERE is_expired),
    coalesce(sum(amount) FILTER (WHERE is_success), 0)
FROM source
GROUP BY GROUPING SETS (
    (bucket_start, merchant_id, currency, category),
    (bucket_start, merchant_id, currency, payment_method)
)
