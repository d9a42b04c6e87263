-- Remove again the rows this transaction restored into raw.<table>: exactly the staged
-- rows, matched by primary key, and only among rows this transaction inserted (xmin),
-- so a late event another session committed meanwhile into the same hours stays.
-- Never by xmin alone: a DELETE on a compressed TimescaleDB chunk first decompresses
-- the batches it may touch, and the decompressed rows carry this transaction's xmin,
-- so "xmin = mine" would delete every row of every compressed chunk in the range. The
-- bounds ([first, last]: the staged rows' own range, as constants) keep the DELETE off
-- chunks that hold no restored row.
DELETE FROM {table} AS r
USING pg_temp.archive_restore AS s
WHERE r.occurred_at >= %(first)s AND r.occurred_at <= %(last)s
    AND r.event_id = s.event_id::uuid
    AND r.occurred_at = timestamptz 'epoch' + s.occurred_at * interval '1 microsecond'
    AND r.xmin = pg_current_xact_id()::xid
