-- Rows ingestion had committed into the day's own hours of the raw tables the customer
-- assets read, read before the day is written: a different sum later means late events.
-- Hours overlapping the day (hour_start after its start less an hour), as the due query
-- counts them (see its comment): equal counts then mean no late events, and a day just
-- built is not due again.
SELECT coalesce(sum(rows_ingested), 0)::bigint AS source_rows
FROM ingest.touched_hours
WHERE raw_table IN ('raw.transactions', 'raw.user_activity', 'raw.user_events')
    AND hour_start > %(window_start)s::timestamptz - interval '1 hour'
    AND hour_start < %(window_end)s
