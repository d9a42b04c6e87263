-- What the API's cached responses depend on: the newest materialization of each mart
-- (an index probe each) and, for the realtime endpoint's raw tail, the ingestion into the
-- recent hours of raw transactions. A cached response stays valid while its sources'
-- (watermark, changes) are as they were.
-- Marts: runs of one mart hold an advisory lock until they commit and stamp their
-- buckets with clock_timestamp() after taking it, so each run's time is newer than any
-- committed before. Raw: ingest transactions commit in any order of their times, so
-- the rows ingested (which only grow) tell that something was committed since.
SELECT m.mart AS source,
    (SELECT max(b.materialized_at) FROM marts.rollup_buckets b WHERE b.mart = m.mart) AS watermark,
    NULL::bigint AS changes
FROM unnest(%(marts)s::text[]) AS m(mart)
UNION ALL
SELECT 'raw.transactions', max(h.last_ingested_at), coalesce(sum(h.rows_ingested), 0)::bigint
FROM ingest.touched_hours h
WHERE h.raw_table = 'raw.transactions' AND h.hour_start >= %(raw_since)s
UNION ALL
-- Customer score days (customers/rfm_scores, customers/segment_transitions): the newest
-- run and the days recorded, so a re-run of an old day also moves the watermark.
SELECT 'customers.rfm_scores', max(computed_at), count(*)::bigint FROM customers.rfm_score_days
UNION ALL
SELECT 'customers.segment_transitions', max(computed_at), count(*)::bigint
FROM customers.segment_transition_days
