-- Merchants with at least one transaction in the month (the monthly mart's merchant rows).
SELECT DISTINCT dimension_value AS merchant_id
FROM marts.transactions_monthly
WHERE bucket_start = %(month_start)s AND dimension = 'merchant'
ORDER BY 1
