-- Raw rows of the month with the given event ids, whatever their occurred_at: asked only
-- for sampled rows the primary key did not find (spot_check_raw_rows.sql), so the spot
-- check can say whether the file's occurred_at is wrong or raw lacks the row.
-- {columns}: every raw column in table order, as the check compares it.
SELECT {columns}
FROM {table} AS r
WHERE r.event_id = ANY (%(event_ids)s::uuid[])
    AND r.occurred_at >= %(month_start)s AND r.occurred_at < %(month_end)s
