-- An operator accepts that [lost_from, lost_to) of a partition is gone: the gaps are
-- marked acknowledged and the stored offset moves past them, so ingestion resumes at
-- the first offset Kafka still has. A partition never ingested (a gap found at its first
-- start) gets its offsets row here. Returns the ranges acknowledged.
WITH acknowledged AS (
    UPDATE ingest.gaps
    SET acknowledged_at = now(), acknowledged_by = %(by)s
    WHERE consumer_group = %(consumer_group)s AND topic = %(topic)s
      AND partition = %(partition)s AND acknowledged_at IS NULL
    RETURNING lost_from, lost_to
), moved AS (
    INSERT INTO ingest.offsets AS o (consumer_group, topic, partition, next_offset)
    SELECT %(consumer_group)s, %(topic)s, %(partition)s, max(lost_to)
    FROM acknowledged
    HAVING count(*) > 0
    ON CONFLICT (consumer_group, topic, partition) DO UPDATE
        SET next_offset = EXCLUDED.next_offset, updated_at = now()
        WHERE o.next_offset < EXCLUDED.next_offset
    RETURNING next_offset
)
SELECT lost_from, lost_to FROM acknowledged ORDER BY lost_from
