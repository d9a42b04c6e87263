-- The cold archive of the raw tables (analytics_platform/archive/): Parquet files per raw
-- table and UTC month, recorded here. Retention drops a raw month only when its row here
-- says it was verified against the files and nothing changed since (see
-- analytics_platform/archive/retention.py).
CREATE SCHEMA IF NOT EXISTS archive;

-- One row per Parquet file. `checksum` is the sum of a 60-bit hash of every row's
-- canonical text (sql/archive/raw_month_checksum.sql and parquet_checksum.sql compute the
-- same number in PostgreSQL and DuckDB), so the checksums of a month's files add up to
-- the month's. `raw_dropped_at` is set when retention dropped the raw rows the file holds:
-- from then on the file is their only copy.
CREATE TABLE IF NOT EXISTS archive.files (
    raw_table text NOT NULL,
    month date NOT NULL CHECK (extract(day FROM month) = 1),
    path text NOT NULL,
    rows bigint NOT NULL CHECK (rows > 0),
    bytes bigint NOT NULL CHECK (bytes > 0),
    min_occurred_at timestamptz NOT NULL,
    max_occurred_at timestamptz NOT NULL,
    checksum numeric NOT NULL,
    written_at timestamptz NOT NULL DEFAULT now(),
    raw_dropped_at timestamptz,
    PRIMARY KEY (raw_table, path)
);
CREATE INDEX IF NOT EXISTS files_month ON archive.files (raw_table, month);

-- One row per raw table and UTC month that was archived (also when it had no rows).
-- `source_rows` is what ingest.touched_hours said about the month before the export read
-- it: a larger sum now means rows arrived since, and the month is archived again.
-- `verified_at` is set by a verification that re-read every file and found the raw
-- month equal to the files that still mirror it; archiving again clears it.
CREATE TABLE IF NOT EXISTS archive.months (
    raw_table text NOT NULL,
    month date NOT NULL CHECK (extract(day FROM month) = 1),
    archived_at timestamptz NOT NULL,
    source_rows bigint NOT NULL,
    verified_at timestamptz,
    verification_problem text,
    raw_dropped_at timestamptz,
    PRIMARY KEY (raw_table, month)
);
