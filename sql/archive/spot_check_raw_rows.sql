-- The raw rows the archive's spot check (analytics_platform/archive/spot_check.py)
-- compares with rows sampled from one Parquet file, fetched by primary key: the sampled
-- keys come as two arrays (event ids as text, occurred_at as epoch microseconds decoded
-- as the restore does), so one statement with run-time partition pruning fetches them
-- all; the month's bounds let the planner leave the other months' partitions out.
-- {columns}: every raw column in table order, as the check compares it.
WITH sample AS (
    SELECT
        event_id::uuid AS event_id,
        timestamptz 'epoch' + occurred_us * interval '1 microsecond' AS occurred_at
    FROM unnest(%(event_ids)s::text[], %(occurred_us)s::int8[]) AS s (event_id, occurred_us)
)
SELECT {columns}
FROM sample
JOIN {table} AS r ON r.event_id = sample.event_id AND r.occurred_at = sample.occurred_at
WHERE r.occurred_at >= %(month_start)s AND r.occurred_at < %(month_end)s
