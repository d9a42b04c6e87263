-- Checksum formula 2 (analytics_platform/archive/checksums.py): two cheap numbers per file
-- instead of one expensive one, both recorded by the writer from the export itself.
--
-- `raw_checksum`: the sum of PostgreSQL's `hash_record_extended` over the raw rows the file
-- holds (each row with its numbers' scales), computed by the very COPY that exported them,
-- so in the same snapshot; a verification recomputes it over the raw month (about 0.85 us
-- a row against 2.7-3.5 for formula 1's md5 of a canonical text).
-- `checksum`: the sum of DuckDB's `hash()` over the file's rows, read back from the written
-- file (about 0.2 us a row against 1.8); a verification re-reads the file and recomputes it.
-- Together: the files hold what the export read, and raw still holds it.
--
-- Files written before keep formula 1 (`checksum_version` 1: `checksum` the md5 sum of
-- 050, recorded by their first verification, `raw_checksum` NULL) and keep verifying with it.
ALTER TABLE archive.files
    ADD COLUMN IF NOT EXISTS checksum_version smallint NOT NULL DEFAULT 1,
    ADD COLUMN IF NOT EXISTS raw_checksum numeric;
-- Every writer says which formula it used.
ALTER TABLE archive.files ALTER COLUMN checksum_version DROP DEFAULT;
ALTER TABLE archive.files ADD CONSTRAINT files_checksum_version CHECK (
    checksum_version = 1 AND raw_checksum IS NULL
    OR checksum_version = 2 AND checksum IS NOT NULL AND raw_checksum IS NOT NULL
);

COMMENT ON COLUMN archive.files.checksum IS
    'Formula 1: sum of the 60-bit md5 row hashes (050_archive.sql), NULL until the first '
    'verification. Formula 2: sum of DuckDB hash() over the file''s rows (052).';
COMMENT ON COLUMN archive.files.raw_checksum IS
    'Formula 2: sum of PostgreSQL hash_record_extended over the raw rows the file holds, '
    'taken by the export (052); NULL for formula 1.';
