-- The customer days to (re)compute, oldest first, given the days whose rollups are in
-- (%(ready_days)s, closed and past the grace): a ready day is due when one of the
-- customer assets %(assets)s has no record of it, when late events changed the rows
-- ingested into its hours since its run ('stale'), or when an earlier day was
-- materialized after it ('after_earlier': user_profiles carries state day to day).
-- The hours counted are those that overlap the day (hour_start after its start less an
-- hour), as in the recorded count. Ingestion cuts hours in REPORTING_TIMEZONE: when that
-- is %(tz)s, a local midnight starts an hour and these are exactly the day's own hours.
-- Hours cut in another zone (the setting changed; hours recorded at whole UTC hours)
-- straddle the midnights of a +05:30 or +05:45 zone: a late row in the first minutes of
-- the day is then still counted for it. The count is only compared for equality, as a
-- change detector: a neighbouring day's rows in a shared hour cost at most an extra
-- rebuild.
WITH ready AS (
    SELECT unnest(%(ready_days)s::date[]) AS day
),
current AS (
    SELECT r.day, (
        SELECT coalesce(sum(t.rows_ingested), 0)
        FROM ingest.touched_hours t
        WHERE t.raw_table IN ('raw.transactions', 'raw.user_activity', 'raw.user_events')
            AND t.hour_start > (r.day::timestamp AT TIME ZONE %(tz)s) - interval '1 hour'
            AND t.hour_start < ((r.day + 1)::timestamp AT TIME ZONE %(tz)s)
    ) AS source_rows
    FROM ready r
),
recorded AS (
    SELECT d.asset, d.day, d.source_rows, d.materialized_at,
        max(d.materialized_at) OVER (
            PARTITION BY d.asset ORDER BY d.day ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ) AS earlier_materialized_at
    FROM marts.customer_days d
    WHERE d.asset = ANY(%(assets)s::text[])
)
SELECT c.day,
    CASE
        WHEN count(r.asset) < cardinality(%(assets)s::text[]) THEN 'missing'
        WHEN bool_or(r.source_rows <> c.source_rows) THEN 'stale'
        ELSE 'after_earlier'
    END AS reason
FROM current c
LEFT JOIN recorded r ON r.day = c.day
GROUP BY c.day
HAVING count(r.asset) < cardinality(%(assets)s::text[])
    OR bool_or(r.source_rows <> c.source_rows)
    OR bool_or(r.materialized_at < r.earlier_materialized_at)
ORDER BY c.day
