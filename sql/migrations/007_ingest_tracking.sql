-- What ingestion needs beyond offsets: the hours each batch touched (so rollups re-run
-- exactly those partitions, late ones included) and the offset ranges Kafka deleted
-- before they were read (so a loss is recorded and needs an operator's word).

-- One row per raw table and reporting-time-zone hour that received rows.
-- last_ingested_at moves whenever new rows land in the hour: a rollup partition is
-- stale when it was materialized before that time.
CREATE TABLE IF NOT EXISTS ingest.touched_hours (
    raw_table text NOT NULL,
    hour_start timestamptz NOT NULL,
    rows_ingested bigint NOT NULL DEFAULT 0,
    max_occurred_at timestamptz NOT NULL,
    first_ingested_at timestamptz NOT NULL DEFAULT now(),
    last_ingested_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (raw_table, hour_start)
);
CREATE INDEX IF NOT EXISTS touched_hours_recent ON ingest.touched_hours (last_ingested_at);

-- Offsets [lost_from, lost_to) of a partition that retention deleted before ingestion
-- read them. While a row here is unacknowledged, ingestion of the topic stops.
CREATE TABLE IF NOT EXISTS ingest.gaps (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    consumer_group text NOT NULL,
    topic text NOT NULL,
    partition integer NOT NULL,
    lost_from bigint NOT NULL,
    lost_to bigint NOT NULL CHECK (lost_to > lost_from),
    detected_at timestamptz NOT NULL DEFAULT now(),
    acknowledged_at timestamptz,
    acknowledged_by text,
    UNIQUE (consumer_group, topic, partition, lost_from)
);
