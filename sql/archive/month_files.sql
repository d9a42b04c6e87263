-- The files of one month, oldest first.
SELECT
    path, rows, bytes, min_occurred_at, max_occurred_at, checksum, raw_dropped_at,
    checksum_version, raw_checksum
FROM archive.files
WHERE raw_table = %(raw_table)s AND month = %(month)s
ORDER BY min_occurred_at, path
