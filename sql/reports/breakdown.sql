-- The platform's month per merchant, category and payment method (per currency), from
-- the monthly transactions mart; the report ranks and cuts them.
SELECT dimension, dimension_value, currency, transaction_count, success_count, success_rate,
    revenue
FROM marts.transactions_monthly
WHERE bucket_start = %(month_start)s
    AND dimension IN ('merchant', 'category', 'payment_method')
ORDER BY dimension, dimension_value, currency
