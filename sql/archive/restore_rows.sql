-- Archived rows staged in pg_temp.archive_restore go back into raw.<table> with their
-- exact values ({values}: times from epoch microseconds, money from its exact text).
INSERT INTO {table} ({columns})
SELECT {values}
FROM pg_temp.archive_restore
