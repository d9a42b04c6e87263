-- Rows ingestion has recorded in local day %(day)s's hours (%(tz)s) of %(raw_tables)s, the
-- raw tables a per-day aggregate table reads; read before the day's raw rows, so that a
-- later difference means late events (day_table_due.sql).
-- Hours overlapping the day (hour_start after its start less an hour), as the due query
-- counts them (see its comment): equal counts then mean no late events, and a day just
-- built is not due again.
SELECT coalesce(sum(rows_ingested), 0)::bigint AS source_rows
FROM ingest.touched_hours
WHERE raw_table = ANY(%(raw_tables)s::text[])
    AND hour_start > (%(day)s::date::timestamp AT TIME ZONE %(tz)s) - interval '1 hour'
    AND hour_start < ((%(day)s::date + 1)::timestamp AT TIME ZONE %(tz)s);
