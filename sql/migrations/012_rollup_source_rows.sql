-- Staleness by row counts instead of timestamps. A rollup run records, per bucket, how
-- many rows ingestion had committed into the raw hours the bucket depends on
-- (sum of ingest.touched_hours.rows_ingested over [bucket_start - lookback, bucket_end),
-- read before the run's INSERT); the bucket is stale when that sum has changed since.
-- Timestamps cannot tell this: last_ingested_at is its writing transaction's start time,
-- and two ingest transactions can commit in the other order than they started, so a
-- batch committing after a run can carry an older time than the one the run read.
-- rows_ingested only grows and every committed batch adds to it, so a changed sum is
-- exactly "something was committed since". NULL: recorded before this migration; those
-- buckets keep the timestamp comparison until their next run records a sum.
ALTER TABLE marts.rollup_buckets ADD COLUMN IF NOT EXISTS source_rows bigint;

COMMENT ON COLUMN marts.rollup_buckets.source_rows IS
    'Rows ingestion had committed into the raw hours this bucket depends on ([bucket_start - lookback, bucket_end)) when the run read them, before its INSERT: the sum of ingest.touched_hours.rows_ingested. The bucket is stale when the current sum differs. NULL: recorded before migration 012 (staleness by source_watermark).';

COMMENT ON COLUMN marts.rollup_buckets.source_watermark IS
    'Newest ingest.touched_hours.last_ingested_at of the hours this bucket depends on when the run read them: how fresh the bucket''s sources were, for display. Staleness compares source_rows (this only for rows recorded before migration 012).';
