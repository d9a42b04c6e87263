-- The buckets of a run's window and, per bucket, the latest time ingestion wrote rows
-- into the hours it depends on: its own and, for a family that reads raw before its
-- buckets, the %(lookback)s before (NULL: never). Read before the run's INSERT, so a batch
-- committed while the run executes leaves a newer last_ingested_at and the bucket shows
-- as stale.
SELECT
    b.bucket_start,
    b.bucket_end,
    (
        SELECT max(h.last_ingested_at)
        FROM ingest.touched_hours h
        WHERE h.raw_table = %(raw_table)s
            AND h.hour_start >= b.bucket_start - %(lookback)s::interval
            AND h.hour_start < b.bucket_end
    ) AS source_watermark
FROM marts.bucket_series(%(grain)s, %(tz)s, %(window_start)s, %(window_end)s) AS b
ORDER BY b.bucket_start
