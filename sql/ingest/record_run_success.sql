-- An ingestion run of a topic succeeded: the failures before it are over.
INSERT INTO ingest.topic_runs AS r (consumer_group, topic, last_succeeded_at)
VALUES (%(consumer_group)s, %(topic)s, now())
ON CONFLICT (consumer_group, topic) DO UPDATE
    SET last_succeeded_at = now(), failures = 0, last_error = NULL
