-- Retention dropped the raw rows of a month: its files are now their only copy.
WITH files AS (
    UPDATE archive.files SET raw_dropped_at = now()
    WHERE raw_table = %(raw_table)s AND month = %(month)s AND raw_dropped_at IS NULL
)
UPDATE archive.months SET raw_dropped_at = now()
WHERE raw_table = %(raw_table)s AND month = %(month)s
