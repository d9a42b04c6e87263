-- The raw rows the archive's spot check (analytics_platform/archive/spot_check.py)
-- compares with rows sampled from one Parquet file, fetched by primary key: the sampled
-- keys come as two arrays (event ids as text, occurred_at as epoch microseconds decoded
-- as the restore does), so one statement with run-time partition pruning fetches them
-- all; the month's bounds let the planner leave the other months' partitions out. Each
-- row comes with the position of its key in the arrays (from 1), so the check pairs
-- rows by position, not by the file's own text of the key.
-- {columns}: every raw column in table order, as the check compares it.
WITH sample AS (
    SELECT
        position,
        event_id::uuid AS event_id,
        timestamptz 'epoch' + occurred_us * interval '1 microsecond' AS occurred_at
    FROM unnest(%(event_ids)s::text[], %(occurred_us)s::int8[])
        WITH ORDINALITY AS s (event_id, occurred_us, position)
)
SELECT sample.position, {columns}
FROM sample
JOIN {table} AS r ON r.event_id = sample.event_id AND r.occurred_at = sample.occurred_at
WHERE r.occurred_at >= %(month_start)s AND r.occurred_at < %(month_end)s
