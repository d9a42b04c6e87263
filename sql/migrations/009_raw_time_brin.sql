-- Rollups read raw tables one event-time window at a time ([window_start, window_end)).
-- Native daily partitions have no index that starts with occurred_at, so an hourly rollup
-- would scan its whole day (24 times a day). A BRIN index on occurred_at is a few pages per
-- partition and nearly free to maintain on rows that arrive in time order (a late event
-- only widens one block range), and lets an hour read about 1/24 of its day.
-- Hypertables already get a B-tree on occurred_at from create_hypertable.
DO $$
DECLARE
    t text;
BEGIN
    IF ingest.has_timescaledb() THEN
        RETURN;
    END IF;
    FOREACH t IN ARRAY ARRAY['transactions', 'wallet_balances', 'user_activity', 'user_events', 'webhook_deliveries'] LOOP
        EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON raw.%I USING brin (occurred_at)',
            t || '_occurred_at_brin', t);
    END LOOP;
END
$$;
