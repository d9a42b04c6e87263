-- The buckets of a run's window and, per bucket, what ingestion had committed into the
-- hours it depends on: its own and, for a family that reads raw before its buckets, the
-- %(lookback)s before, i.e. hours in [bucket_start - lookback, bucket_end).
-- - source_rows: the rows ingested into those hours (0: none). Read before the run's
--   INSERT, so a batch committed while the run executes or later, whatever time it
--   started, changes the sum and the bucket shows as stale (due_buckets.sql sums the
--   same hours);
-- - source_watermark: the newest last_ingested_at of those hours (NULL: never), shown as
--   the freshness of the bucket's sources.
-- An hour counts if it overlaps those hours (hour_start after their start less an hour),
-- as in due_buckets.sql, whose comment says why.
SELECT
    b.bucket_start,
    b.bucket_end,
    coalesce(h.source_rows, 0)::bigint AS source_rows,
    h.source_watermark
FROM marts.bucket_series(%(grain)s, %(tz)s, %(window_start)s, %(window_end)s) AS b
CROSS JOIN LATERAL (
    SELECT sum(t.rows_ingested) AS source_rows, max(t.last_ingested_at) AS source_watermark
    FROM ingest.touched_hours t
    WHERE t.raw_table = %(raw_table)s
        AND t.hour_start > b.bucket_start - %(lookback)s::interval - interval '1 hour'
        AND t.hour_start < b.bucket_end
) AS h
ORDER BY b.bucket_start
