-- Rows ingestion has recorded in local day %(day)s's hours (%(tz)s) of raw.transactions;
-- read before the day's raw rows, so that a later difference means late events
-- (budget_day_spend_due.sql).
SELECT coalesce(sum(rows_ingested), 0)::bigint AS source_rows
FROM ingest.touched_hours
WHERE raw_table = 'raw.transactions'
    AND hour_start >= (%(day)s::date::timestamp AT TIME ZONE %(tz)s)
    AND hour_start < ((%(day)s::date + 1)::timestamp AT TIME ZONE %(tz)s);
