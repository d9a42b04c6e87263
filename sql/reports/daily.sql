-- The month's days per report scope ('' = platform, else a merchant; %(scope)s NULL = every
-- scope) from the daily transactions mart, per currency (money) and, for the platform, the
-- '' row of counts across currencies.
SELECT dimension_value AS scope, bucket_start, currency, transaction_count, success_count,
    failed_count, revenue
FROM marts.transactions_daily
WHERE bucket_start >= %(month_start)s AND bucket_start < %(month_end)s
    AND dimension IN ('platform', 'merchant')
    AND (%(scope)s::text IS NULL OR dimension_value = %(scope)s)
ORDER BY scope, bucket_start, currency
