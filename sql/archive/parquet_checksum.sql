-- DuckDB: row count, content checksum and time range of Parquet files, the same figures
-- raw_month_checksum.sql computes in PostgreSQL. Integers cross as text: the sum can
-- exceed 64 bits.
SELECT
    count(*) AS rows,
    coalesce(sum({row_hash}), 0)::VARCHAR AS checksum,
    epoch_us(min(occurred_at)) AS min_occurred_us,
    epoch_us(max(occurred_at)) AS max_occurred_us
FROM read_parquet($files)
