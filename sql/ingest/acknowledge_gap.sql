-- An operator accepts that [lost_from, lost_to) of a partition is gone: the gaps are
-- marked acknowledged and the stored offset moves past them, so ingestion resumes at
-- the first offset Kafka still has. Returns the ranges acknowledged.
WITH acknowledged AS (
    UPDATE ingest.gaps
    SET acknowledged_at = now(), acknowledged_by = %(by)s
    WHERE consumer_group = %(consumer_group)s AND topic = %(topic)s
      AND partition = %(partition)s AND acknowledged_at IS NULL
    RETURNING lost_from, lost_to
), moved AS (
    UPDATE ingest.offsets
    SET next_offset = (SELECT max(lost_to) FROM acknowledged), updated_at = now()
    WHERE consumer_group = %(consumer_group)s AND topic = %(topic)s
      AND partition = %(partition)s
      AND next_offset < (SELECT max(lost_to) FROM acknowledged)
    RETURNING next_offset
)
SELECT lost_from, lost_to FROM acknowledged ORDER BY lost_from
