-- The days of %(days)s whose ml.budget_day_spend must be (re)built for time zone %(tz)s,
-- oldest first: never built, built in another zone, built when ingestion had recorded
-- another number of rows in the day's hours of raw.transactions (late events), or listed
-- in %(rebuild)s.
WITH wanted AS (
    SELECT DISTINCT unnest(%(days)s::date[]) AS day
),
current AS (
    SELECT w.day, (
        SELECT coalesce(sum(t.rows_ingested), 0)
        FROM ingest.touched_hours t
        WHERE t.raw_table = 'raw.transactions'
            AND t.hour_start >= (w.day::timestamp AT TIME ZONE %(tz)s)
            AND t.hour_start < ((w.day + 1)::timestamp AT TIME ZONE %(tz)s)
    ) AS source_rows
    FROM wanted w
)
SELECT c.day
FROM current c
LEFT JOIN ml.budget_day_spend_days s ON s.day = c.day
WHERE s.day IS NULL
    OR s.tz <> %(tz)s
    OR s.source_rows <> c.source_rows
    OR c.day = ANY(%(rebuild)s::date[])
ORDER BY c.day;
