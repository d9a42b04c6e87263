-- Transactions per local hour of the day over the month, from the hourly mart: the
-- platform's '' rows (all currencies) or the sum of a merchant's per-currency rows (each
-- transaction has one currency, so counts add up).
SELECT extract(hour FROM bucket_start AT TIME ZONE %(tz)s)::int AS hour,
    sum(transaction_count)::bigint AS transaction_count,
    sum(success_count)::bigint AS success_count
FROM marts.transactions_hourly
WHERE bucket_start >= %(month_start)s AND bucket_start < %(month_end)s
    AND dimension = CASE WHEN %(merchant)s = '' THEN 'platform' ELSE 'merchant' END
    AND dimension_value = %(merchant)s
    AND (currency = '') = (%(merchant)s = '')
GROUP BY 1
ORDER BY 1
