-- The month's and the previous month's totals of one report's scope from the monthly
-- transactions mart: the platform (merchant '': its per-currency rows and the '' row of
-- counts across currencies) or one merchant (per currency).
SELECT bucket_start, currency, transaction_count, success_count, failed_count, expired_count,
    pending_count, refunded_count, success_rate, revenue, average_value, refund_count,
    refund_amount, unique_payers, latency_p50_ms, latency_p95_ms, latency_p99_ms
FROM marts.transactions_monthly
WHERE bucket_start IN (%(month_start)s, %(previous_start)s)
    AND dimension = CASE WHEN %(merchant)s = '' THEN 'platform' ELSE 'merchant' END
    AND dimension_value = %(merchant)s
ORDER BY bucket_start, currency
