-- The month's breakdowns per report scope (%(scope)s NULL = every scope), which the report
-- ranks and cuts: the platform's ('') merchants, categories and payment methods from the
-- monthly transactions mart; each merchant's categories and payment methods from the
-- monthly merchant breakdown mart. Per currency.
SELECT '' AS scope, dimension, dimension_value, currency, transaction_count, success_count,
    revenue
FROM marts.transactions_monthly
WHERE bucket_start = %(month_start)s
    AND dimension IN ('merchant', 'category', 'payment_method')
    AND (%(scope)s::text IS NULL OR %(scope)s = '')
UNION ALL
SELECT merchant_id, dimension, dimension_value, currency, transaction_count, success_count,
    revenue
FROM marts.merchant_breakdown_monthly
WHERE bucket_start = %(month_start)s
    AND (%(scope)s::text IS NULL OR merchant_id = %(scope)s)
ORDER BY scope, dimension, dimension_value, currency
