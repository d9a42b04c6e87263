-- Monthly reports (reports/monthly; docs/reports.md): one row per reporting-zone month and
-- report, the platform's (merchant_id '') and each merchant's active in the month. The
-- document is the JSON the API serves, html its rendering; etag is a hash of both, so
-- the API's ETag changes exactly when a re-render changed what it serves.
CREATE SCHEMA IF NOT EXISTS reports;

CREATE TABLE IF NOT EXISTS reports.monthly_reports (
    month date NOT NULL CHECK (extract(day FROM month) = 1),
    merchant_id text COLLATE "C" NOT NULL,
    document jsonb NOT NULL,
    html text NOT NULL,
    etag text COLLATE "C" NOT NULL,
    rendered_at timestamptz NOT NULL DEFAULT now(),
    -- Why this rendering exists: 'scheduled', 'manual' or 'late data: ...' (a re-run of a
    -- day of a closed month). The first rendering's time stays in first_rendered_at.
    render_reason text NOT NULL,
    first_rendered_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (month, merchant_id)
);

-- Merchant rows to their merchant, the platform's report to admin scope only, exactly as
-- the marts (010_api.sql): the API runs as analytics_api with app.scope set.
ALTER TABLE reports.monthly_reports ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS api_scope ON reports.monthly_reports;
CREATE POLICY api_scope ON reports.monthly_reports FOR SELECT
    USING (api.scope_sees(nullif(merchant_id, '')));

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'analytics_api') THEN
        GRANT USAGE ON SCHEMA reports TO analytics_api;
        GRANT SELECT ON reports.monthly_reports TO analytics_api;
        DROP POLICY IF EXISTS api_scope_required ON reports.monthly_reports;
        CREATE POLICY api_scope_required ON reports.monthly_reports AS RESTRICTIVE FOR SELECT
            TO analytics_api
            USING (current_setting('app.scope', true) IN ('admin', 'merchant'));
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'analytics_reader') THEN
        GRANT USAGE ON SCHEMA reports TO analytics_reader;
        GRANT SELECT ON reports.monthly_reports TO analytics_reader;
    END IF;
END
$$;
