-- Raw rows of the month with the given event ids, whatever their occurred_at: asked only
-- for sampled rows the primary key did not find (spot_check_raw_rows.sql), so the spot
-- check can say whether the file's occurred_at is wrong or raw lacks the row. Each row
-- comes with the position given beside its event id.
-- {columns}: every raw column in table order, as the check compares it.
SELECT s.position, {columns}
FROM unnest(%(event_ids)s::text[], %(positions)s::int8[]) AS s (event_id, position)
JOIN {table} AS r ON r.event_id = s.event_id::uuid
WHERE r.occurred_at >= %(month_start)s AND r.occurred_at < %(month_end)s
