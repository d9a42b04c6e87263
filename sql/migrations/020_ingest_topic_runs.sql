-- How the last ingestion runs of each topic ended, so that `ingest status` can tell a
-- topic that keeps failing (a broker it cannot reach, a database error) from one that is
-- merely behind. One row per consumer group and topic; a success clears the failure.
CREATE TABLE IF NOT EXISTS ingest.topic_runs (
    consumer_group text NOT NULL,
    topic text NOT NULL,
    last_succeeded_at timestamptz,
    last_failed_at timestamptz,
    -- Failures since the last success.
    failures integer NOT NULL DEFAULT 0,
    last_error text,
    PRIMARY KEY (consumer_group, topic)
);
