-- See spending_trend_cells_lock.sql: each day row's rebuild lock, shared, for the local
-- days the state sums or takes away (%(window_days)s x %(windows)s days before %(day)s up
-- to it).
SELECT count(pg_advisory_xact_lock_shared(hashtext('ml.ledger_day_stats'), d - date '2000-01-01'))
FROM (SELECT %(day)s::date - k AS d
      FROM generate_series(0, %(window_days)s * %(windows)s) AS k) AS days;
