-- Buckets of one mart the automation should (re)compute, given the time before which
-- buckets count as closed (now minus the grace period):
-- - 'missing': a closed bucket since the first hour ingestion ever wrote for the mart's
--   raw table, with no record in marts.rollup_buckets (never materialized, or its run
--   failed);
-- - 'stale': a recorded bucket with events of its own whose dependencies ingestion has
--   committed rows into since its run read them (late events, at any age).
-- A bucket depends on the hours [bucket_start - %(lookback)s, bucket_end): its own and,
-- when the family reads raw before its events, the lookback before them; the same hours
-- window_buckets.sql sums when a run records source_rows. Ingestion only ever adds to
-- rows_ingested, so the sum differs exactly when a batch committed since, whatever time
-- that batch's transaction started. A bucket without events of its own has no rows to
-- compute, whatever its lookback holds, so it is never stale.
-- An hour counts if it overlaps those hours (hour_start after their start less an hour),
-- here and in window_buckets.sql. Ingestion cuts hours in REPORTING_TIMEZONE: in %(tz)s
-- they start on bucket boundaries and these are exactly the bucket's hours. Hours cut in
-- another zone (the setting changed; hours recorded at whole UTC hours) straddle the
-- boundaries of a +05:30 or +05:45 zone: a late row in a bucket's first minutes still
-- changes its sum. The sum is only compared for equality, as a change detector: a
-- neighbouring bucket's rows in a shared hour cost at most an extra run.
-- Buckets recorded before migration 012 (source_rows NULL) keep the old rule, a newer
-- last_ingested_at than the watermark the run read, until their next run records a sum.
-- last_ingested_at is the newest write into the bucket's hours (NULL: none).
WITH closed AS (
    SELECT b.bucket_start, b.bucket_end
    FROM (
        SELECT min(hour_start) AS first_hour
        FROM ingest.touched_hours
        WHERE raw_table = %(raw_table)s AND hour_start < %(closed_before)s
    ) AS f
    CROSS JOIN LATERAL marts.bucket_series(%(grain)s, %(tz)s, f.first_hour, %(closed_before)s) AS b
    WHERE b.bucket_end <= %(closed_before)s
)
SELECT
    c.bucket_start,
    c.bucket_end,
    CASE WHEN r.mart IS NULL THEN 'missing' ELSE 'stale' END AS reason,
    h.last_ingested_at
FROM closed c
LEFT JOIN marts.rollup_buckets r ON r.mart = %(mart)s AND r.bucket_start = c.bucket_start
CROSS JOIN LATERAL (
    SELECT
        coalesce(sum(t.rows_ingested), 0) AS source_rows,
        max(t.last_ingested_at) AS last_ingested_at,
        coalesce(bool_or(t.hour_start > c.bucket_start - interval '1 hour'), false) AS has_events
    FROM ingest.touched_hours t
    WHERE t.raw_table = %(raw_table)s
        AND t.hour_start > c.bucket_start - %(lookback)s::interval - interval '1 hour'
        AND t.hour_start < c.bucket_end
) AS h
WHERE r.mart IS NULL
    OR (
        h.has_events
        AND CASE
            WHEN r.source_rows IS NULL
                THEN h.last_ingested_at > coalesce(r.source_watermark, '-infinity'::timestamptz)
            ELSE h.source_rows <> r.source_rows
        END
    )
ORDER BY c.bucket_start
