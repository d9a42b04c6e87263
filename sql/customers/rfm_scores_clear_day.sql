-- Empty the day's score partition (TRUNCATE, in the run's transaction) before writing it.
SELECT customers.clear_day('customers.rfm_scores'::regclass, %(day)s)
