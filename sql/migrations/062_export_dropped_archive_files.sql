-- The itemized export serves months whose raw rows retention dropped from their Parquet
-- files (docs/reports.md). The API role may not read the archive manifest itself; this
-- function tells it which files to read, and only those whose raw rows were dropped
-- (`raw_dropped_at`): a file that still mirrors raw rows (a month archived but kept, late
-- rows archived beside a dropped month's files) is read from raw, so each transaction
-- is exported once. Only for a session with a key's scope set (api.scope_sees).
CREATE OR REPLACE FUNCTION api.dropped_transaction_files(p_start timestamptz, p_end timestamptz)
RETURNS TABLE (path text, min_occurred_at timestamptz, max_occurred_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT f.path, f.min_occurred_at, f.max_occurred_at
    FROM archive.files f
    WHERE f.raw_table = 'transactions' AND f.raw_dropped_at IS NOT NULL
        AND f.min_occurred_at < p_end AND f.max_occurred_at >= p_start
        AND current_setting('app.scope', true) IN ('admin', 'merchant')
    ORDER BY f.min_occurred_at, f.path
$$;

REVOKE ALL ON FUNCTION api.dropped_transaction_files(timestamptz, timestamptz) FROM PUBLIC;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'analytics_api') THEN
        GRANT EXECUTE ON FUNCTION api.dropped_transaction_files(timestamptz, timestamptz)
            TO analytics_api;
    END IF;
END
$$;
