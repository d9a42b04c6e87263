-- The month's days of one report's scope from the daily transactions mart, per currency
-- (money) and, for the platform, the '' row of counts across currencies.
SELECT bucket_start, currency, transaction_count, success_count, failed_count, revenue
FROM marts.transactions_daily
WHERE bucket_start >= %(month_start)s AND bucket_start < %(month_end)s
    AND dimension = CASE WHEN %(merchant)s = '' THEN 'platform' ELSE 'merchant' END
    AND dimension_value = %(merchant)s
ORDER BY bucket_start, currency
