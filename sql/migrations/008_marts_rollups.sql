-- The rollup marts: one table per metric family and grain (hourly, daily, weekly,
-- monthly), filled by sql/rollups/<family>.sql one partition window at a time, plus the
-- bookkeeping that tells the automation which buckets are missing or stale.
--
-- Conventions shared by every mart:
-- - bucket_start is the start of the bucket in REPORTING_TIMEZONE (a local hour, local
--   midnight, Monday midnight or the 1st of the month), stored as timestamptz;
-- - every key column is NOT NULL; '' in a key column means "all values of it" (the total
--   row), which no real value can be: ids and labels are at least one character long;
-- - money is NUMERIC and never summed across currencies;
-- - text keys use the "C" collation: byte order sorts and indexes several times faster
--   than a linguistic collation, and ids and codes have no linguistic order anyway.

-- Buckets of a grain ('hour', 'day', 'week', 'month') in zone p_tz that start inside
-- [p_from, p_to), p_from rounded down to its bucket. Hours step in absolute time (a local
-- hour is always 60 minutes long, also across DST changes and at half-hour offsets);
-- days, weeks (Monday, like date_trunc) and months step on the local calendar, so a DST
-- day has 23 or 25 hours.
CREATE OR REPLACE FUNCTION marts.bucket_series(p_grain text, p_tz text, p_from timestamptz, p_to timestamptz)
RETURNS TABLE (bucket_start timestamptz, bucket_end timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT s, s + interval '1 hour'
    FROM generate_series(date_trunc('hour', p_from, p_tz), p_to - interval '1 microsecond', interval '1 hour') AS s
    WHERE p_grain = 'hour'
    UNION ALL
    SELECT local_start AT TIME ZONE p_tz, (local_start + ('1 ' || p_grain)::interval) AT TIME ZONE p_tz
    FROM generate_series(
        date_trunc(p_grain, p_from, p_tz) AT TIME ZONE p_tz,
        (p_to AT TIME ZONE p_tz) - interval '1 microsecond',
        ('1 ' || p_grain)::interval) AS local_start
    WHERE p_grain IN ('day', 'week', 'month')
    ORDER BY 1
$$;

-- One row per mart bucket ever materialized. source_watermark is the latest
-- ingest.touched_hours.last_ingested_at of the bucket's hours that the run could see
-- (read before its INSERT): ingestion writing the bucket's hours later leaves a newer
-- last_ingested_at, which makes the bucket stale. The API reads materialized_at for
-- Last-Modified.
CREATE TABLE IF NOT EXISTS marts.rollup_buckets (
    mart text COLLATE "C" NOT NULL,
    bucket_start timestamptz NOT NULL,
    bucket_end timestamptz NOT NULL CHECK (bucket_end > bucket_start),
    rows bigint NOT NULL CHECK (rows >= 0),
    source_watermark timestamptz,
    materialized_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (mart, bucket_start)
);

DO $$
DECLARE
    grain text;
BEGIN
    FOREACH grain IN ARRAY ARRAY['hourly', 'daily', 'weekly', 'monthly'] LOOP
        -- Transactions per bucket and dimension. dimension is 'platform' (dimension_value
        -- '') or merchant / category / transaction_type / payment_method (transactions
        -- without a merchant appear only in the other dimensions). currency '' is the
        -- total across currencies, present for the platform only; money columns are NULL
        -- there. success_rate = SUCCESS / (SUCCESS + FAILED + EXPIRED).
        EXECUTE format($ddl$
            CREATE TABLE IF NOT EXISTS marts.%I (
                bucket_start timestamptz NOT NULL,
                dimension text COLLATE "C" NOT NULL
                    CHECK (dimension IN ('platform', 'merchant', 'category', 'transaction_type', 'payment_method')),
                dimension_value text COLLATE "C" NOT NULL,
                currency text COLLATE "C" NOT NULL,
                transaction_count bigint NOT NULL,
                success_count bigint NOT NULL,
                failed_count bigint NOT NULL,
                expired_count bigint NOT NULL,
                pending_count bigint NOT NULL,
                refunded_count bigint NOT NULL,
                success_rate numeric,
                revenue numeric,
                average_value numeric,
                refund_count bigint NOT NULL,
                refund_amount numeric,
                unique_payers bigint NOT NULL,
                retries bigint NOT NULL,
                retried_count bigint NOT NULL,
                retried_success_count bigint NOT NULL,
                latency_avg_ms numeric NOT NULL,
                latency_p50_ms double precision NOT NULL,
                latency_p95_ms double precision NOT NULL,
                latency_p99_ms double precision NOT NULL,
                PRIMARY KEY (bucket_start, dimension, dimension_value, currency)
            )$ddl$, 'transactions_' || grain);
        -- A merchant's (or category's...) series over time without scanning other rows.
        EXECUTE format(
            'CREATE INDEX IF NOT EXISTS %I ON marts.%I (dimension, dimension_value, bucket_start)',
            'transactions_' || grain || '_dimension', 'transactions_' || grain);

        -- FAILED transactions by failure_reason, for the platform and per merchant and
        -- payment method; failure_share is the reason's share of the failures of the same
        -- bucket, dimension and value.
        EXECUTE format($ddl$
            CREATE TABLE IF NOT EXISTS marts.%I (
                bucket_start timestamptz NOT NULL,
                dimension text COLLATE "C" NOT NULL CHECK (dimension IN ('platform', 'merchant', 'payment_method')),
                dimension_value text COLLATE "C" NOT NULL,
                failure_reason text COLLATE "C" NOT NULL,
                failure_count bigint NOT NULL,
                failure_share numeric NOT NULL,
                affected_users bigint NOT NULL,
                retries bigint NOT NULL,
                PRIMARY KEY (bucket_start, dimension, dimension_value, failure_reason)
            )$ddl$, 'failures_' || grain);
        EXECUTE format(
            'CREATE INDEX IF NOT EXISTS %I ON marts.%I (dimension, dimension_value, bucket_start)',
            'failures_' || grain || '_dimension', 'failures_' || grain);

        -- Money in and out of wallets (SUCCESS transactions only) per user and currency;
        -- user_id '' is the platform. Inflow: TOPUP, TRANSFER_IN, REFUND; outflow:
        -- PAYMENT, TRANSFER_OUT, WITHDRAWAL, BILL_PAYMENT.
        EXECUTE format($ddl$
            CREATE TABLE IF NOT EXISTS marts.%I (
                bucket_start timestamptz NOT NULL,
                user_id text COLLATE "C" NOT NULL,
                currency text COLLATE "C" NOT NULL,
                inflow numeric NOT NULL,
                outflow numeric NOT NULL,
                net numeric NOT NULL,
                inflow_count bigint NOT NULL,
                outflow_count bigint NOT NULL,
                PRIMARY KEY (bucket_start, user_id, currency)
            )$ddl$, 'cashflow_' || grain);
        EXECUTE format(
            'CREATE INDEX IF NOT EXISTS %I ON marts.%I (user_id, bucket_start)',
            'cashflow_' || grain || '_user', 'cashflow_' || grain);

        -- App activity per device type (device_type '' = all devices; events without a
        -- device count only there). active_users of a day/week/month is DAU/WAU/MAU.
        EXECUTE format($ddl$
            CREATE TABLE IF NOT EXISTS marts.%I (
                bucket_start timestamptz NOT NULL,
                device_type text COLLATE "C" NOT NULL,
                active_users bigint NOT NULL,
                sessions bigint NOT NULL,
                events bigint NOT NULL,
                sessions_ended bigint NOT NULL,
                avg_session_seconds numeric,
                PRIMARY KEY (bucket_start, device_type)
            )$ddl$, 'activity_' || grain);

        -- Webhook delivery attempts per merchant and webhook event type ('' = all).
        -- success_rate = DELIVERED / (DELIVERED + FAILED); RETRYING is not an outcome.
        EXECUTE format($ddl$
            CREATE TABLE IF NOT EXISTS marts.%I (
                bucket_start timestamptz NOT NULL,
                merchant_id text COLLATE "C" NOT NULL,
                webhook_event_type text COLLATE "C" NOT NULL,
                deliveries bigint NOT NULL,
                delivered_count bigint NOT NULL,
                failed_count bigint NOT NULL,
                retrying_count bigint NOT NULL,
                success_rate numeric,
                retry_attempts bigint NOT NULL,
                latency_avg_ms numeric NOT NULL,
                latency_p50_ms double precision NOT NULL,
                latency_p95_ms double precision NOT NULL,
                PRIMARY KEY (bucket_start, merchant_id, webhook_event_type)
            )$ddl$, 'webhooks_' || grain);
        EXECUTE format(
            'CREATE INDEX IF NOT EXISTS %I ON marts.%I (merchant_id, bucket_start)',
            'webhooks_' || grain || '_merchant', 'webhooks_' || grain);

        -- Registrations and KYC per country on the event (country '' = all).
        -- verification_rate = verified / (verified + rejected); median_seconds_to_verify
        -- runs from the user's latest kyc_submitted at or before each verification (and
        -- at most 7 days earlier).
        EXECUTE format($ddl$
            CREATE TABLE IF NOT EXISTS marts.%I (
                bucket_start timestamptz NOT NULL,
                country text COLLATE "C" NOT NULL,
                registrations bigint NOT NULL,
                kyc_submitted bigint NOT NULL,
                kyc_verified bigint NOT NULL,
                kyc_rejected bigint NOT NULL,
                verification_rate numeric,
                median_seconds_to_verify double precision,
                PRIMARY KEY (bucket_start, country)
            )$ddl$, 'user_lifecycle_' || grain);
    END LOOP;
END
$$;
