-- The UTC months in which ingestion recorded rows for raw.<table>, each with the row sum
-- month_source_rows.sql gives (ingest.touched_hours: cheap, where scanning the raw table
-- is not), and what the archive knows of the month.
SELECT
    mo.month,
    s.source_rows,
    m.archived_at,
    m.source_rows AS archived_source_rows,
    m.verified_at,
    m.raw_dropped_at
FROM (
    SELECT DISTINCT date_trunc('month', hour_start AT TIME ZONE 'UTC')::date AS month
    FROM ingest.touched_hours
    WHERE raw_table = %(qualified_table)s
) AS mo
CROSS JOIN LATERAL (
    SELECT coalesce(sum(h.rows_ingested), 0)::bigint AS source_rows
    FROM ingest.touched_hours h
    WHERE h.raw_table = %(qualified_table)s
        AND h.hour_start > (mo.month::timestamp AT TIME ZONE 'UTC') - interval '1 hour'
        AND h.hour_start < ((mo.month + interval '1 month') AT TIME ZONE 'UTC')
) AS s
LEFT JOIN archive.months m ON m.raw_table = %(raw_table)s AND m.month = mo.month
ORDER BY mo.month
