-- configure_raw_storage (006) again, with two changes:
-- - a changed RAW_COMPRESS_AFTER_DAYS replaces the existing compression policy (006 kept
--   the old one: add_compression_policy(if_exists => true) only warned "already exists");
-- - no TimescaleDB retention policy any more, and an existing one is removed: a policy
--   drops chunks by age alone, also months not archived yet. Retention is the scheduled
--   retention asset's job, which calls ingest.drop_raw_data_before for archived months
--   only (the same path as on plain PostgreSQL and the apache license).
-- Returns one line per decision; migrate prints them.
CREATE OR REPLACE FUNCTION ingest.configure_raw_storage(
    p_retention_days int, p_compress_after_days int, p_chunk_days int)
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    t text;
    ht regclass;
    license text := current_setting('timescaledb.license', true);
    wanted interval := make_interval(days => p_compress_after_days);
    existing interval;
    compression text;
    -- p_retention_days is the retention asset's; kept so the signature stays 006's.
    retention text := 'retention by the scheduled retention asset (ingest.drop_raw_data_before, '
        || 'archived months only), no TimescaleDB retention policy';
BEGIN
    IF NOT ingest.has_timescaledb() THEN
        RETURN NEXT 'native partitions: daily, created ahead by ingest.ensure_raw_partitions; '
            || retention;
        RETURN;
    END IF;
    FOREACH t IN ARRAY ARRAY['transactions', 'wallet_balances', 'user_activity', 'user_events', 'webhook_deliveries'] LOOP
        ht := format('raw.%I', t)::regclass;
        PERFORM set_chunk_time_interval(ht, make_interval(days => p_chunk_days));
        IF license IS DISTINCT FROM 'timescale' THEN
            RETURN NEXT format('raw.%s: hypertable, chunks of %s days (license %s: no compression); %s',
                t, p_chunk_days, coalesce(license, 'unknown'), retention);
            CONTINUE;
        END IF;
        IF NOT EXISTS (
            SELECT 1 FROM timescaledb_information.hypertables
            WHERE hypertable_schema = 'raw' AND hypertable_name = t AND compression_enabled
        ) THEN
            EXECUTE format(
                'ALTER TABLE raw.%I SET (timescaledb.compress, timescaledb.compress_orderby = %L)',
                t, 'occurred_at DESC');
        END IF;
        SELECT (j.config->>'compress_after')::interval INTO existing
        FROM timescaledb_information.jobs j
        WHERE j.proc_name = 'policy_compression'
            AND j.hypertable_schema = 'raw' AND j.hypertable_name = t;
        IF existing IS NULL THEN
            PERFORM add_compression_policy(ht, wanted);
            compression := format('compression after %s days (policy added)', p_compress_after_days);
        ELSIF existing <> wanted THEN
            PERFORM remove_compression_policy(ht);
            PERFORM add_compression_policy(ht, wanted);
            compression := format('compression after %s days (policy changed from %s)',
                p_compress_after_days, existing);
        ELSE
            compression := format('compression after %s days', p_compress_after_days);
        END IF;
        IF EXISTS (
            SELECT 1 FROM timescaledb_information.jobs j
            WHERE j.proc_name = 'policy_retention'
                AND j.hypertable_schema = 'raw' AND j.hypertable_name = t
        ) THEN
            PERFORM remove_retention_policy(ht);
            compression := compression || ', TimescaleDB retention policy removed';
        END IF;
        RETURN NEXT format('raw.%s: hypertable, chunks of %s days, %s; %s',
            t, p_chunk_days, compression, retention);
    END LOOP;
END
$$;
