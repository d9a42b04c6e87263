-- The month's and the previous month's totals per report scope from the monthly
-- transactions mart: scope '' is the platform (its per-currency rows and the '' row of
-- counts across currencies), any other scope a merchant (per currency). %(scope)s NULL
-- reads every scope at once (a month's rendering), else that one scope.
SELECT dimension_value AS scope, bucket_start, currency, transaction_count, success_count,
    failed_count, expired_count, pending_count, refunded_count, success_rate, revenue,
    average_value, refund_count, refund_amount, unique_payers, latency_p50_ms,
    latency_p95_ms, latency_p99_ms
FROM marts.transactions_monthly
WHERE bucket_start IN (%(month_start)s, %(previous_start)s)
    AND dimension IN ('platform', 'merchant')
    AND (%(scope)s::text IS NULL OR dimension_value = %(scope)s)
ORDER BY scope, bucket_start, currency
