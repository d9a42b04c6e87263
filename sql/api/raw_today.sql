-- Today's raw transactions of one subject (merchant_id NULL: all), in one scan: per
-- currency and across currencies, the figures of the tail [tail_start, now) (added to
-- the hourly marts), of the open hour [hour_start, now), and today's distinct payers,
-- which no sum of hourly buckets can give.
WITH tx AS (
    SELECT
        currency COLLATE "C" AS currency,
        status,
        amount,
        user_id,
        occurred_at >= %(tail_start)s AS in_tail,
        occurred_at >= %(hour_start)s AS in_hour
    FROM api.raw_transactions
    WHERE occurred_at >= %(today_start)s AND occurred_at < %(now)s
        AND (%(merchant_id)s::text IS NULL OR merchant_id = %(merchant_id)s)
)
SELECT
    GROUPING(currency) = 1 AS all_currencies,
    coalesce(currency, '') AS currency,
    count(*) FILTER (WHERE in_tail) AS tail_transaction_count,
    count(*) FILTER (WHERE in_tail AND status = 'SUCCESS') AS tail_success_count,
    count(*) FILTER (WHERE in_tail AND status = 'FAILED') AS tail_failed_count,
    count(*) FILTER (WHERE in_tail AND status = 'EXPIRED') AS tail_expired_count,
    count(*) FILTER (WHERE in_tail AND status = 'PENDING') AS tail_pending_count,
    count(*) FILTER (WHERE in_tail AND status = 'REFUNDED') AS tail_refunded_count,
    coalesce(sum(amount) FILTER (WHERE in_tail AND status = 'SUCCESS'), 0) AS tail_revenue,
    count(*) FILTER (WHERE in_hour) AS hour_transaction_count,
    count(*) FILTER (WHERE in_hour AND status = 'SUCCESS') AS hour_success_count,
    count(*) FILTER (WHERE in_hour AND status = 'FAILED') AS hour_failed_count,
    count(*) FILTER (WHERE in_hour AND status = 'EXPIRED') AS hour_expired_count,
    count(*) FILTER (WHERE in_hour AND status = 'PENDING') AS hour_pending_count,
    count(*) FILTER (WHERE in_hour AND status = 'REFUNDED') AS hour_refunded_count,
    coalesce(sum(amount) FILTER (WHERE in_hour AND status = 'SUCCESS'), 0) AS hour_revenue,
    count(DISTINCT user_id) FILTER (WHERE in_hour AND status = 'SUCCESS') AS hour_unique_payers,
    count(DISTINCT user_id) FILTER (WHERE status = 'SUCCESS') AS today_unique_payers
FROM tx
GROUP BY GROUPING SETS ((currency), ())
