-- Create the day partitions of state and scores a run will write, in a short transaction
-- of their own: creating a partition locks the parent table, and the run's long
-- transaction must not hold that lock against readers of other days.
SELECT customers.day_partition('customers.rfm_state'::regclass, d::date),
    customers.day_partition('customers.rfm_scores'::regclass, d::date)
FROM generate_series(%(first_day)s::date, %(last_day)s::date, interval '1 day') AS d
