-- Key quality of a mart over [window_start, window_end): rows, rows sharing a key with
-- another row, and rows with a NULL in a key column. Rendered with {table} and {key}, the
-- mart's key columns.
SELECT
    count(*) AS rows,
    count(*) - count(DISTINCT ({key})) AS duplicate_keys,
    count(*) FILTER (WHERE NOT (({key}) IS NOT NULL)) AS null_keys
FROM {table}
WHERE bucket_start >= %(window_start)s AND bucket_start < %(window_end)s
