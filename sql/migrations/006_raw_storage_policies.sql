-- Storage policies of the raw tables, applied by every `analytics-platform migrate` with
-- the values from settings (so a changed RAW_RETENTION_DAYS takes effect on the next
-- migrate). Returns one line per decision so migrate can print what it did.
--
-- TimescaleDB with the `timescale` license: chunk interval, compression and retention
-- policies. With an apache-only build (no compression, no policies) or without
-- TimescaleDB, retention is done by ingest.drop_raw_data_before from a scheduled job.
CREATE OR REPLACE FUNCTION ingest.configure_raw_storage(
    p_retention_days int, p_compress_after_days int, p_chunk_days int)
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    t text;
    license text := current_setting('timescaledb.license', true);
BEGIN
    IF NOT ingest.has_timescaledb() THEN
        RETURN NEXT 'native partitions: daily, created ahead by ingest.ensure_raw_partitions; '
            || 'retention by ingest.drop_raw_data_before';
        RETURN;
    END IF;
    FOREACH t IN ARRAY ARRAY['transactions', 'wallet_balances', 'user_activity', 'user_events', 'webhook_deliveries'] LOOP
        PERFORM set_chunk_time_interval(format('raw.%I', t)::regclass, make_interval(days => p_chunk_days));
        IF license = 'timescale' THEN
            EXECUTE format(
                'ALTER TABLE raw.%I SET (timescaledb.compress, timescaledb.compress_orderby = %L)',
                t, 'occurred_at DESC');
            PERFORM add_compression_policy(format('raw.%I', t)::regclass,
                make_interval(days => p_compress_after_days), if_not_exists => true);
            PERFORM remove_retention_policy(format('raw.%I', t)::regclass, if_exists => true);
            IF p_retention_days > 0 THEN
                PERFORM add_retention_policy(format('raw.%I', t)::regclass,
                    make_interval(days => p_retention_days));
            END IF;
            RETURN NEXT format('raw.%s: hypertable, compression after %s days, retention %s',
                t, p_compress_after_days,
                CASE WHEN p_retention_days > 0 THEN p_retention_days || ' days' ELSE 'off' END);
        ELSE
            RETURN NEXT format('raw.%s: hypertable (license %s: no compression; retention by drop_chunks job)',
                t, coalesce(license, 'unknown'));
        END IF;
    END LOOP;
END
$$;
