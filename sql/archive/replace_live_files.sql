-- Forget the files of a month that still mirror raw rows (the new export replaces them);
-- returns their paths so the caller deletes them once the transaction committed. Files
-- whose raw rows retention dropped stay: they are those rows' only copy.
DELETE FROM archive.files
WHERE raw_table = %(raw_table)s AND month = %(month)s AND raw_dropped_at IS NULL
RETURNING path
