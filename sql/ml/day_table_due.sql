-- The days of %(days)s whose per-day aggregate table must be (re)built for time zone
-- %(tz)s, oldest first: never built, built in another zone, built when ingestion had
-- recorded another number of rows in the day's hours of %(raw_tables)s (late events), or
-- listed in %(rebuild)s. {days_table} is the table's bookkeeping (day, tz, source_rows);
-- the count it holds is day_table_source_rows.sql's, read when the day was built.
-- The hours counted are those that overlap the day (hour_start after its start less an
-- hour), as in the recorded count. Ingestion cuts hours in REPORTING_TIMEZONE: when that
-- is %(tz)s, a local midnight starts an hour and these are exactly the day's own hours.
-- Hours cut in another zone (the setting changed; hours recorded at whole UTC hours)
-- straddle the midnights of a +05:30 or +05:45 zone: a late row in the first minutes of
-- the day is then still counted for it. The count is only compared for equality, as a
-- change detector: a neighbouring day's rows in a shared hour cost at most an extra
-- rebuild.
WITH wanted AS (
    SELECT DISTINCT unnest(%(days)s::date[]) AS day
),
current AS (
    SELECT w.day, (
        SELECT coalesce(sum(t.rows_ingested), 0)
        FROM ingest.touched_hours t
        WHERE t.raw_table = ANY(%(raw_tables)s::text[])
            AND t.hour_start > (w.day::timestamp AT TIME ZONE %(tz)s) - interval '1 hour'
            AND t.hour_start < ((w.day + 1)::timestamp AT TIME ZONE %(tz)s)
    ) AS source_rows
    FROM wanted w
)
SELECT c.day
FROM current c
LEFT JOIN {days_table} s ON s.day = c.day
WHERE s.day IS NULL
    OR s.tz <> %(tz)s
    OR s.source_rows <> c.source_rows
    OR c.day = ANY(%(rebuild)s::date[])
ORDER BY c.day;
