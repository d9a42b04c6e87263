-- Rows ingestion has recorded (ingest.touched_hours) in the hours of raw.transactions that
-- overlap the local days of two windows of %(history_days)s days in %(tz)s: `previous`
-- ends with %(day)s - 1, `current` with %(day)s. Read before the raw rows, so that a
-- later difference means late events (interaction_windows_previous.sql compares them).
-- An hour counts if any of it falls in the window (hour_start after the window's start
-- less an hour), as in the day stats' due queries (ledger_day_stats_due.sql says why):
-- hours cut in %(tz)s, as ingestion cuts them, start on local midnights and this is
-- exactly the window's hours; hours cut in another zone may straddle the midnights of a
-- +05:30 or +05:45 zone, and a late row in one must still reach the days on both sides.
WITH bounds AS (
    SELECT ((%(day)s::date - %(history_days)s)::timestamp AT TIME ZONE %(tz)s) AS previous_start,
           ((%(day)s::date - %(history_days)s + 1)::timestamp AT TIME ZONE %(tz)s) AS current_start,
           (%(day)s::date::timestamp AT TIME ZONE %(tz)s) AS previous_end,
           ((%(day)s::date + 1)::timestamp AT TIME ZONE %(tz)s) AS current_end
)
SELECT coalesce(sum(t.rows_ingested) FILTER (WHERE t.hour_start < b.previous_end), 0)::bigint
           AS previous,
       coalesce(sum(t.rows_ingested)
                    FILTER (WHERE t.hour_start > b.current_start - interval '1 hour'), 0)::bigint
           AS current
FROM bounds AS b
LEFT JOIN ingest.touched_hours AS t
    ON t.raw_table = 'raw.transactions'
    AND t.hour_start > b.previous_start - interval '1 hour'
    AND t.hour_start < b.current_end;
