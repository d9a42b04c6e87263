-- The first rows of a mart's window in key order, for the materialization preview.
-- Rendered with {table} and {key}.
SELECT *
FROM {table}
WHERE bucket_start >= %(window_start)s AND bucket_start < %(window_end)s
ORDER BY {key}
LIMIT %(limit)s
