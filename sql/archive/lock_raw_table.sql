-- Held until the retention transaction ends: no ingest can add rows to the table between
-- the final checksum of a month and the drop of its partitions (SHARE conflicts with the
-- ROW EXCLUSIVE lock an INSERT or COPY takes; readers are not blocked).
LOCK TABLE {table} IN SHARE MODE
