-- No nested loops for the rest of the cohort run's transaction (set_config local) but
-- the lateral lookups: the day's rows are newer than any statistics (the planner guesses
-- one row for the day), and a nested loop of the day's members over them ran 180 s
-- instead of a second at a quarter of the benchmark's scale.
SELECT set_config('enable_nestloop', 'off', true)
