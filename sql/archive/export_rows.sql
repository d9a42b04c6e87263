-- The rows of raw.<table> over [start, end) in the shape the Parquet writer reads
-- ({columns}: analytics_platform/archive/columns.py; times as epoch microseconds, money
-- as exact text beside its scale). One day at a time: on native partitions and
-- TimescaleDB chunks alike that reads one partition.
COPY (
    SELECT {columns}
    FROM {table}
    WHERE occurred_at >= %(start)s AND occurred_at < %(end)s
) TO STDOUT (FORMAT csv)
