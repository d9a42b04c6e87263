-- Records the buckets a run just recomputed: their row counts in the mart and what the
-- run read of ingestion before its INSERT (window_buckets.sql). Rendered with {table}.
-- materialized_at is the clock now, not the transaction's start: runs of a mart queue on
-- its advisory lock, so this is later than the commit of every run before, and the
-- newest materialized_at moves with every commit (the API's cache relies on it).
INSERT INTO marts.rollup_buckets AS r
    (mart, bucket_start, bucket_end, rows, source_rows, source_watermark, materialized_at)
SELECT
    %(mart)s,
    b.bucket_start,
    b.bucket_end,
    (SELECT count(*) FROM {table} m WHERE m.bucket_start = b.bucket_start),
    b.source_rows,
    b.source_watermark,
    (SELECT clock_timestamp())
FROM unnest(%(bucket_starts)s::timestamptz[], %(bucket_ends)s::timestamptz[],
    %(source_rows)s::bigint[], %(source_watermarks)s::timestamptz[])
    AS b(bucket_start, bucket_end, source_rows, source_watermark)
ON CONFLICT (mart, bucket_start) DO UPDATE
    SET bucket_end = EXCLUDED.bucket_end,
        rows = EXCLUDED.rows,
        source_rows = EXCLUDED.source_rows,
        source_watermark = EXCLUDED.source_watermark,
        materialized_at = EXCLUDED.materialized_at
