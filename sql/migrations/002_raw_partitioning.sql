-- How raw tables are time-partitioned: hypertables with TimescaleDB, native daily range
-- partitions without. Both are keyed on occurred_at, so queries are the same.

-- Creates a raw table from its column list, partitioned the way this server can.
CREATE OR REPLACE FUNCTION ingest.create_raw_table(p_table text, p_columns text, p_chunk_days int DEFAULT 1)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF to_regclass('raw.' || p_table) IS NOT NULL THEN
        RETURN;
    END IF;
    IF ingest.has_timescaledb() THEN
        EXECUTE format('CREATE TABLE raw.%I (%s)', p_table, p_columns);
        PERFORM create_hypertable(
            format('raw.%I', p_table)::regclass, 'occurred_at',
            chunk_time_interval => make_interval(days => p_chunk_days),
            if_not_exists => true);
    ELSE
        EXECUTE format('CREATE TABLE raw.%I (%s) PARTITION BY RANGE (occurred_at)', p_table, p_columns);
    END IF;
END
$$;

-- The UTC days [p_from, p_to] of one raw table get their partitions; returns how many
-- were created. Ingestion calls it before writing a batch, so an event for a day with
-- no partition yet never fails the insert. A no-op on hypertables (chunks are automatic).
CREATE OR REPLACE FUNCTION ingest.ensure_raw_partitions(p_table text, p_from timestamptz, p_to timestamptz)
RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    day date;
    last_day date := (p_to AT TIME ZONE 'UTC')::date;
    part text;
    created int := 0;
BEGIN
    IF ingest.has_timescaledb() THEN
        RETURN 0;
    END IF;
    IF to_regclass('raw.' || p_table) IS NULL THEN
        RAISE EXCEPTION 'raw table raw.% does not exist; run `analytics-platform migrate`', p_table
            USING ERRCODE = 'undefined_table';
    END IF;
    IF p_to < p_from THEN
        RAISE EXCEPTION 'ensure_raw_partitions: p_to (%) is before p_from (%)', p_to, p_from
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Concurrent ingest runs may race to create the same day; serialize per table.
    PERFORM pg_advisory_xact_lock(hashtext('raw-partitions:' || p_table));
    day := (p_from AT TIME ZONE 'UTC')::date;
    WHILE day <= last_day LOOP
        part := format('%s_p%s', p_table, to_char(day, 'YYYYMMDD'));
        IF to_regclass(format('raw.%I', part)) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE raw.%I PARTITION OF raw.%I FOR VALUES FROM (%L) TO (%L)',
                part, p_table,
                (day::timestamp AT TIME ZONE 'UTC'),
                ((day + 1)::timestamp AT TIME ZONE 'UTC'));
            created := created + 1;
        END IF;
        day := day + 1;
    END LOOP;
    RETURN created;
END
$$;

-- Retention without TimescaleDB policies (native partitions, or an apache-only
-- TimescaleDB build): drops whole days/chunks older than p_before. Returns what it dropped.
CREATE OR REPLACE FUNCTION ingest.drop_raw_data_before(p_table text, p_before timestamptz)
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    part record;
BEGIN
    IF ingest.has_timescaledb() THEN
        RETURN QUERY SELECT d::text FROM drop_chunks(format('raw.%I', p_table)::regclass, older_than => p_before) AS d;
        RETURN;
    END IF;
    FOR part IN
        SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bound
        FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = format('raw.%I', p_table)::regclass
    LOOP
        -- Bounds look like: FOR VALUES FROM ('2024-01-01 00:00:00+00') TO ('2024-01-02 00:00:00+00')
        IF substring(part.bound FROM 'TO \(''([^'']+)''\)')::timestamptz <= p_before THEN
            EXECUTE format('DROP TABLE raw.%I', part.relname);
            RETURN NEXT part.relname;
        END IF;
    END LOOP;
END
$$;
