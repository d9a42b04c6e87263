-- DuckDB, checksum formula 2: row count and the sum of {row_hash} (DuckDB's hash() over the
-- archived columns, analytics_platform/archive/columns.py) of each Parquet file. Sums cross
-- as text: they exceed 64 bits. Columns are named, so the Hive folders' key columns that
-- DuckDB may add take no part.
SELECT filename, count(*) AS rows, sum({row_hash}::HUGEINT)::VARCHAR AS checksum
FROM read_parquet($files, filename = true)
GROUP BY filename
