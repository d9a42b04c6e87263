-- The run's state partitions still stored logged: rfm.py makes them UNLOGGED (a partition
-- created by customers.day_partition is logged and empty, so that costs nothing; one kept
-- from before is rewritten once). The state is a cache of the daily purchases, which
-- stay logged: no WAL for its million rows a day. A crash or a promoted replica empties
-- it; rfm_state_of_previous_day.sql then finds the rows missing and the day is computed
-- in full.
SELECT n.nspname, c.relname
FROM pg_inherits AS i
JOIN pg_class AS c ON c.oid = i.inhrelid
JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE i.inhparent = 'customers.rfm_state'::regclass
    AND c.relpersistence = 'p'
    AND c.relname IN (
        SELECT 'rfm_state_' || to_char(d, 'YYYYMMDD')
        FROM generate_series(%(first_day)s::date, %(last_day)s::date, interval '1 day') AS d
    )
ORDER BY c.relname
