-- A file's checksum is recorded by the verification that first re-reads it with DuckDB and
-- finds the month's files equal to the raw month (analytics_platform/archive/
-- verification.py), no longer by the writer reading each file back: that second DuckDB
-- pass over every row cost as much as the verification's own. Until then it is NULL; a
-- month whose files lack one is not verified, so retention never drops it.
ALTER TABLE archive.files ALTER COLUMN checksum DROP NOT NULL;

COMMENT ON COLUMN archive.files.checksum IS
    'Sum of the 60-bit row hashes of the file (see 050_archive.sql); NULL until the first '
    'verification found the month''s files equal to the raw month.';
