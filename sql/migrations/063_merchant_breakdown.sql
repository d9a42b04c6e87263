-- Each merchant's transactions by category and by payment method (rollup family
-- merchant_breakdown, analytics_platform/rollups/families.py; sql/rollups/
-- merchant_breakdown.sql fills it). The transactions marts (008) count merchants,
-- categories and payment methods each on their own, so a merchant's monthly report could
-- not rank its categories from them. Conventions as in 008: bucket_start in
-- REPORTING_TIMEZONE, every key NOT NULL, "C" collation, money never summed across
-- currencies. Daily, weekly and monthly only: per hour it would be about as large as raw.
DO $$
DECLARE
    grain text;
BEGIN
    FOREACH grain IN ARRAY ARRAY['daily', 'weekly', 'monthly'] LOOP
        EXECUTE format($ddl$
            CREATE TABLE IF NOT EXISTS marts.%I (
                bucket_start timestamptz NOT NULL,
                merchant_id text COLLATE "C" NOT NULL,
                dimension text COLLATE "C" NOT NULL CHECK (dimension IN ('category', 'payment_method')),
                dimension_value text COLLATE "C" NOT NULL,
                currency text COLLATE "C" NOT NULL,
                transaction_count bigint NOT NULL,
                success_count bigint NOT NULL,
                failed_count bigint NOT NULL,
                expired_count bigint NOT NULL,
                revenue numeric NOT NULL,
                PRIMARY KEY (bucket_start, merchant_id, dimension, dimension_value, currency)
            )$ddl$, 'merchant_breakdown_' || grain);
        -- A merchant's series over time without scanning other merchants' rows.
        EXECUTE format(
            'CREATE INDEX IF NOT EXISTS %I ON marts.%I (merchant_id, bucket_start)',
            'merchant_breakdown_' || grain || '_merchant', 'merchant_breakdown_' || grain);
        -- Merchant rows to their merchant only, like the other marts (010_api.sql); SELECT
        -- reaches the API's role through 005's default privileges on schema marts.
        EXECUTE format('ALTER TABLE marts.%I ENABLE ROW LEVEL SECURITY', 'merchant_breakdown_' || grain);
        EXECUTE format('DROP POLICY IF EXISTS api_scope ON marts.%I', 'merchant_breakdown_' || grain);
        EXECUTE format('CREATE POLICY api_scope ON marts.%I FOR SELECT USING (api.scope_sees(merchant_id))',
            'merchant_breakdown_' || grain);
    END LOOP;
END
$$;
