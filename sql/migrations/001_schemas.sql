-- Schemas of the platform: raw events, ingestion bookkeeping, materialized marts, API.
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS ingest;
CREATE SCHEMA IF NOT EXISTS marts;
CREATE SCHEMA IF NOT EXISTS api;

-- TimescaleDB when the server has it; everything below falls back to native range
-- partitions otherwise. CREATE EXTENSION fails when the library is available but not
-- preloaded, which must not abort the migration.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') THEN
        BEGIN
            CREATE EXTENSION IF NOT EXISTS timescaledb;
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'timescaledb is available but could not be created (%); using native partitions', SQLERRM;
        END;
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION ingest.has_timescaledb() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')
$$;
