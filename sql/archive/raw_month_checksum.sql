-- Row count, content checksum and time range of raw.<table> over [month_start, month_end).
-- {row_hash} is the 60-bit hash of a row's canonical text (analytics_platform/archive/
-- columns.py builds it from the table's columns); parquet_checksum.sql computes the same
-- number in DuckDB from the archived files. A sum does not depend on row order.
SELECT
    count(*) AS rows,
    coalesce(sum({row_hash}), 0) AS checksum,
    min(occurred_at) AS min_occurred_at,
    max(occurred_at) AS max_occurred_at
FROM {table}
WHERE occurred_at >= %(month_start)s AND occurred_at < %(month_end)s
