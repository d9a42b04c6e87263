-- Where today's raw tail starts: the first hour in [today_start, hour_start) without a
-- materialized hourly transactions bucket (hour_start when all are there). Today's
-- hours before it come from the mart, the rest from raw.
SELECT coalesce(min(s.bucket_start), %(hour_start)s) AS tail_start
FROM marts.bucket_series('hour', %(tz)s, %(today_start)s, %(hour_start)s) s
LEFT JOIN marts.rollup_buckets b
    ON b.mart = 'transactions_hourly' AND b.bucket_start = s.bucket_start
WHERE b.mart IS NULL
