-- One rejected message. Re-reading the same offset (a retried batch) stores it once.
INSERT INTO ingest.dead_letters (topic, partition, "offset", key, payload, reason)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (topic, partition, "offset") DO NOTHING
