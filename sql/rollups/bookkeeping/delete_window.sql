-- Removes a mart's rows of [window_start, window_end) before the window is recomputed
-- (in the same transaction). Rendered with {table}.
DELETE FROM {table}
WHERE bucket_start >= %(window_start)s AND bucket_start < %(window_end)s
