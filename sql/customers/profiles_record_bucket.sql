-- The day in marts.rollup_buckets too, under the table's name: the API's freshness
-- (Last-Modified, ETag, its response cache) reads materializations from there.
-- materialized_at is the clock now: runs of the asset queue on its advisory lock
-- (profiles_lock.sql), so it is later than the commit of every run before.
INSERT INTO marts.rollup_buckets AS r
    (mart, bucket_start, bucket_end, rows, source_rows, source_watermark, materialized_at)
VALUES (%(mart)s, %(window_start)s, %(window_end)s, %(rows)s, %(source_rows)s, NULL, clock_timestamp())
ON CONFLICT (mart, bucket_start) DO UPDATE
    SET bucket_end = EXCLUDED.bucket_end,
        rows = EXCLUDED.rows,
        source_rows = EXCLUDED.source_rows,
        materialized_at = EXCLUDED.materialized_at
