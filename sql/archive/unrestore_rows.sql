-- Remove again the rows this transaction restored into raw.<table> over [start, end):
-- they are the rows the transaction itself inserted (xmin), so a late event another
-- session committed meanwhile into the same hours stays.
DELETE FROM {table}
WHERE occurred_at >= %(start)s AND occurred_at < %(end)s
    AND xmin = pg_current_xact_id()::xid
