-- No nested loops for the rest of the cohort run's transaction (set_config local) but
-- the lateral lookups: the day's rows are newer than any statistics (the planner guesses
-- one row for the day), and a nested loop of the day's members over them ran 180 s
-- instead of a second at a quarter of the benchmark's scale.
-- No JIT either: a disabled nested loop still costs 1e10 in the plan, far above every
-- jit_*_cost, and on a server with LLVM (the TimescaleDB image) a session without the
-- platform's jit=off (warehouse.SESSION_OPTIONS) spent 5.8 s compiling each day's insert.
SELECT set_config('enable_nestloop', 'off', true), set_config('jit', 'off', true)
