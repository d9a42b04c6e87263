-- The five raw tables of the event contract (analytics_platform/events.py holds the same
-- column order). Money is NUMERIC, times are timestamptz. The primary key includes the
-- time column because TimescaleDB requires it; (event_id, occurred_at) also makes
-- redelivered or retried events collide and be dropped on insert.
-- kafka_partition/kafka_offset trace every row back to its message.
SELECT ingest.create_raw_table('transactions', $cols$
    event_id uuid NOT NULL,
    occurred_at timestamptz NOT NULL,
    user_id text NOT NULL,
    transaction_id text NOT NULL,
    amount numeric NOT NULL CHECK (amount > 0),
    currency text NOT NULL,
    transaction_type text NOT NULL,
    category text NOT NULL,
    status text NOT NULL,
    payment_method text NOT NULL,
    retry_count integer NOT NULL,
    processing_ms integer NOT NULL,
    merchant_id text,
    recipient_id text,
    failure_reason text,
    metadata jsonb,
    schema_version smallint NOT NULL DEFAULT 1,
    kafka_partition integer NOT NULL,
    kafka_offset bigint NOT NULL,
    ingested_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, occurred_at)
$cols$);
-- No secondary B-trees on the busiest table: they cost most of the server's COPY time
-- (11.4-12.4 us/row with user and merchant indexes, 4.5-5.1 without) and serve no query;
-- per-user and per-merchant reads go to marts.*.

SELECT ingest.create_raw_table('wallet_balances', $cols$
    event_id uuid NOT NULL,
    occurred_at timestamptz NOT NULL,
    user_id text NOT NULL,
    wallet_id text NOT NULL,
    balance numeric NOT NULL,
    currency text NOT NULL,
    change_amount numeric NOT NULL CHECK (change_amount > 0),
    change_type text NOT NULL,
    schema_version smallint NOT NULL DEFAULT 1,
    kafka_partition integer NOT NULL,
    kafka_offset bigint NOT NULL,
    ingested_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, occurred_at)
$cols$);
CREATE INDEX IF NOT EXISTS wallet_balances_wallet_time ON raw.wallet_balances (wallet_id, occurred_at);

SELECT ingest.create_raw_table('user_activity', $cols$
    event_id uuid NOT NULL,
    occurred_at timestamptz NOT NULL,
    user_id text NOT NULL,
    activity_type text NOT NULL,
    session_id text,
    device_type text,
    ip_address text,
    user_agent text,
    duration_seconds integer,
    metadata jsonb,
    schema_version smallint NOT NULL DEFAULT 1,
    kafka_partition integer NOT NULL,
    kafka_offset bigint NOT NULL,
    ingested_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, occurred_at)
$cols$);
CREATE INDEX IF NOT EXISTS user_activity_user_time ON raw.user_activity (user_id, occurred_at);

SELECT ingest.create_raw_table('user_events', $cols$
    event_id uuid NOT NULL,
    occurred_at timestamptz NOT NULL,
    user_id text NOT NULL,
    event_type text NOT NULL,
    kyc_level smallint,
    country text,
    schema_version smallint NOT NULL DEFAULT 1,
    kafka_partition integer NOT NULL,
    kafka_offset bigint NOT NULL,
    ingested_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, occurred_at)
$cols$);
CREATE INDEX IF NOT EXISTS user_events_user_time ON raw.user_events (user_id, occurred_at);

SELECT ingest.create_raw_table('webhook_deliveries', $cols$
    event_id uuid NOT NULL,
    occurred_at timestamptz NOT NULL,
    merchant_id text NOT NULL,
    webhook_event_type text NOT NULL,
    status text NOT NULL,
    attempt integer NOT NULL,
    latency_ms integer NOT NULL,
    http_status smallint,
    schema_version smallint NOT NULL DEFAULT 1,
    kafka_partition integer NOT NULL,
    kafka_offset bigint NOT NULL,
    ingested_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, occurred_at)
$cols$);
CREATE INDEX IF NOT EXISTS webhook_deliveries_merchant_time ON raw.webhook_deliveries (merchant_id, occurred_at);
