-- Buckets of one mart the automation should (re)compute, given the time before which
-- buckets count as closed (now minus the grace period):
-- - 'missing': a closed bucket since the first hour ingestion ever wrote for the mart's
--   raw table, with no record in marts.rollup_buckets (never materialized, or its run
--   failed);
-- - 'stale': a recorded bucket whose dependencies ingestion wrote after the run read its
--   watermark (late events, at any age).
-- A bucket depends on its own hours and, when the family reads raw %(lookback)s before
-- its events, on those earlier hours: each touched hour carries the newest write into
-- itself or the lookback before it (a window over the hours in time order), and a bucket
-- takes the newest of its own hours. A bucket without events has nothing that looks back.
-- last_ingested_at is that newest write (NULL: none).
WITH hours AS (
    SELECT
        hour_start,
        max(last_ingested_at) OVER (
            ORDER BY hour_start
            RANGE BETWEEN %(lookback)s::interval PRECEDING AND CURRENT ROW
        ) AS last_ingested_at
    FROM ingest.touched_hours
    WHERE raw_table = %(raw_table)s AND hour_start < %(closed_before)s
),
touched AS (
    SELECT date_trunc(%(grain)s, hour_start, %(tz)s) AS bucket_start,
        max(last_ingested_at) AS last_ingested_at
    FROM hours
    GROUP BY 1
),
closed AS (
    SELECT b.bucket_start, b.bucket_end
    FROM (SELECT min(bucket_start) AS first_bucket FROM touched) AS f
    CROSS JOIN LATERAL marts.bucket_series(%(grain)s, %(tz)s, f.first_bucket, %(closed_before)s) AS b
    WHERE b.bucket_end <= %(closed_before)s
)
SELECT
    c.bucket_start,
    c.bucket_end,
    CASE WHEN r.mart IS NULL THEN 'missing' ELSE 'stale' END AS reason,
    t.last_ingested_at
FROM closed c
LEFT JOIN marts.rollup_buckets r ON r.mart = %(mart)s AND r.bucket_start = c.bucket_start
LEFT JOIN touched t ON t.bucket_start = c.bucket_start
WHERE r.mart IS NULL
    OR t.last_ingested_at > coalesce(r.source_watermark, '-infinity'::timestamptz)
ORDER BY c.bucket_start
