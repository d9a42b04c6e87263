-- Ingestion bookkeeping. ingest.offsets is written in the same transaction as the rows
-- it covers, which makes it the only truth about what has been read (exactly-once into
-- the database); Kafka's committed offsets are only for lag tools.
CREATE TABLE IF NOT EXISTS ingest.offsets (
    consumer_group text NOT NULL,
    topic text NOT NULL,
    partition integer NOT NULL CHECK (partition >= 0),
    next_offset bigint NOT NULL CHECK (next_offset >= 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, partition)
);

-- Every message that broke the contract, with what is needed to fix and replay it.
-- (topic, partition, offset) is unique so re-reading a range never stores a letter twice.
CREATE TABLE IF NOT EXISTS ingest.dead_letters (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic text NOT NULL,
    partition integer NOT NULL,
    "offset" bigint NOT NULL,
    key bytea,
    payload bytea NOT NULL,
    reason text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    replayed_at timestamptz,
    UNIQUE (topic, partition, "offset")
);
CREATE INDEX IF NOT EXISTS dead_letters_pending ON ingest.dead_letters (topic, id)
    WHERE replayed_at IS NULL;
