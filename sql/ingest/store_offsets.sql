-- Advances the stored offsets of one topic's partitions, but only from where this batch
-- started: a row that another writer moved meanwhile is left alone and missing from
-- RETURNING, which the loader turns into a rollback (no event twice, none lost).
-- The row lock taken here also serializes concurrent writers of the same partitions.
WITH batch AS (
    SELECT *
    FROM unnest(%(partitions)s::int[], %(start_offsets)s::bigint[], %(next_offsets)s::bigint[])
        AS b(partition, start_offset, next_offset)
)
INSERT INTO ingest.offsets AS o (consumer_group, topic, partition, next_offset)
SELECT %(consumer_group)s, %(topic)s, partition, next_offset FROM batch
ON CONFLICT (consumer_group, topic, partition) DO UPDATE
    SET next_offset = EXCLUDED.next_offset, updated_at = now()
    WHERE o.next_offset = (
        SELECT b.start_offset FROM batch b WHERE b.partition = EXCLUDED.partition
    )
RETURNING partition
