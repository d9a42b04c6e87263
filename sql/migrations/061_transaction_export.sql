-- The itemized transaction export (GET /api/v1/analytics/exports/transactions,
-- docs/reports.md): every column an accounting export needs, limited to the session's
-- scope like api.raw_transactions (010_api.sql), which lacks the failure and timing
-- columns and cannot be changed in place (migrations are checksummed).
CREATE OR REPLACE VIEW api.export_transactions WITH (security_barrier = true) AS
SELECT occurred_at, ingested_at, event_id, transaction_id, user_id, merchant_id, recipient_id,
    amount, currency, transaction_type, category, status, payment_method, failure_reason,
    retry_count, processing_ms
FROM raw.transactions
WHERE current_setting('app.scope', true) IN ('admin', 'merchant') AND api.scope_sees(merchant_id);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'analytics_api') THEN
        GRANT SELECT ON api.export_transactions TO analytics_api;
    END IF;
END
$$;
