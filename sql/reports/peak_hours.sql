-- Transactions per local hour of the day over the month per report scope ('' = platform,
-- else a merchant; %(scope)s NULL = every scope), from the hourly mart: the platform's ''
-- rows (all currencies) or the sum of a merchant's per-currency rows (each transaction has
-- one currency, so counts add up).
SELECT dimension_value AS scope,
    extract(hour FROM bucket_start AT TIME ZONE %(tz)s)::int AS hour,
    sum(transaction_count)::bigint AS transaction_count
FROM marts.transactions_hourly
WHERE bucket_start >= %(month_start)s AND bucket_start < %(month_end)s
    AND dimension IN ('platform', 'merchant')
    AND (currency = '') = (dimension = 'platform')
    AND (%(scope)s::text IS NULL OR dimension_value = %(scope)s)
GROUP BY 1, 2
ORDER BY 1, 2
