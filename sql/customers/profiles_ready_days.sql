-- The local days from the first hour ingestion wrote into the raw tables the customer
-- assets read, through the last day closed before %(closed_before)s (the automation then
-- leaves out days whose rollups are still due).
SELECT (b.bucket_start AT TIME ZONE %(tz)s)::date AS day
FROM (
    SELECT min(hour_start) AS first_hour
    FROM ingest.touched_hours
    WHERE raw_table IN ('raw.transactions', 'raw.user_activity', 'raw.user_events')
) AS f
CROSS JOIN LATERAL marts.bucket_series('day', %(tz)s, f.first_hour, %(closed_before)s) AS b
WHERE b.bucket_end <= %(closed_before)s
ORDER BY 1
