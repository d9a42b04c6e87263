-- Row count, content checksum and time range of raw.<table> over [month_start, month_end).
-- {row_hash} is a row's hash of one checksum formula (analytics_platform/archive/
-- checksums.py; columns.py builds it from the table's columns). A sum does not depend on
-- row order, and PostgreSQL computes it on parallel workers.
SELECT
    count(*) AS rows,
    coalesce(sum({row_hash}), 0) AS checksum,
    min(occurred_at) AS min_occurred_at,
    max(occurred_at) AS max_occurred_at
FROM {table}
WHERE occurred_at >= %(month_start)s AND occurred_at < %(month_end)s
