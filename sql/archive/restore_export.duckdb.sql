-- DuckDB: the archived rows of [start_us, end_us) (epoch microseconds) as CSV in the
-- staging table's shape ({columns}: times as epoch microseconds, money as its exact text),
-- which PostgreSQL's COPY ... (FORMAT csv) reads back (NULL unquoted, '' quoted).
COPY (
    SELECT {columns}
    FROM read_parquet($files)
    WHERE epoch_us(occurred_at) >= $start_us AND epoch_us(occurred_at) < $end_us
) TO '{target}' (FORMAT csv, HEADER false)
