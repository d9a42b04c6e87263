-- Adds one batch's rows per reporting hour to ingest.touched_hours.
-- now() is the transaction's start, and concurrent batches commit in any order: greatest()
-- keeps the shown ingestion time from going backwards (staleness compares rows_ingested).
INSERT INTO ingest.touched_hours AS t (raw_table, hour_start, rows_ingested, max_occurred_at)
SELECT %(raw_table)s, hour_start, rows_ingested, max_occurred_at
FROM unnest(%(hour_starts)s::timestamptz[], %(rows)s::bigint[], %(max_occurred_ats)s::timestamptz[])
    AS h(hour_start, rows_ingested, max_occurred_at)
ON CONFLICT (raw_table, hour_start) DO UPDATE
    SET rows_ingested = t.rows_ingested + EXCLUDED.rows_ingested,
        max_occurred_at = greatest(t.max_occurred_at, EXCLUDED.max_occurred_at),
        last_ingested_at = greatest(t.last_ingested_at, now())
