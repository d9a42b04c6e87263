-- Offsets Kafka deleted before ingestion read them; recorded once per range start.
INSERT INTO ingest.gaps (consumer_group, topic, partition, lost_from, lost_to)
VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (consumer_group, topic, partition, lost_from) DO NOTHING
