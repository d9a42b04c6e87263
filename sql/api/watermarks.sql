-- What the API's cached responses depend on: the newest materialization of each mart
-- (an index probe each) and the newest ingestion into the recent hours of raw
-- transactions (the realtime endpoint's raw tail).
SELECT m.mart AS source,
    (SELECT max(b.materialized_at) FROM marts.rollup_buckets b WHERE b.mart = m.mart) AS watermark
FROM unnest(%(marts)s::text[]) AS m(mart)
UNION ALL
SELECT 'raw.transactions', max(h.last_ingested_at)
FROM ingest.touched_hours h
WHERE h.raw_table = 'raw.transactions' AND h.hour_start >= %(raw_since)s
