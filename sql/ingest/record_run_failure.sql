-- An ingestion run of a topic failed: keep its error until the next success.
INSERT INTO ingest.topic_runs AS r (consumer_group, topic, last_failed_at, failures, last_error)
VALUES (%(consumer_group)s, %(topic)s, now(), 1, %(error)s)
ON CONFLICT (consumer_group, topic) DO UPDATE
    SET last_failed_at = now(), failures = r.failures + 1, last_error = EXCLUDED.last_error
