-- The newest ingestion into raw transactions hours from since on: part of the realtime
-- response's Last-Modified.
SELECT max(last_ingested_at) AS last_ingested_at
FROM ingest.touched_hours
WHERE raw_table = 'raw.transactions' AND hour_start >= %(since)s
