-- DuckDB: the rows of one Parquet file at the sampled row positions ({ranges}: a
-- disjunction of `file_row_number` ranges, bound as parameters; DuckDB reads only the
-- pages they fall in), each column decoded as the restore does ({columns}: times as
-- epoch microseconds, money as its exact text with its own scale).
SELECT {columns}
FROM read_parquet($file, file_row_number = true, hive_partitioning = false)
WHERE {ranges}
ORDER BY file_row_number
