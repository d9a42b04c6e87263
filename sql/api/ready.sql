-- Readiness: the end of the newest hourly transactions bucket materialized (no row: none).
SELECT bucket_end AS newest_hour_end
FROM marts.rollup_buckets
WHERE mart = 'transactions_hourly'
ORDER BY bucket_start DESC
LIMIT 1
