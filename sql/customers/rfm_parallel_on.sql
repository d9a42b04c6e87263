-- Let the planner use parallel workers for the next statement (the per-user sort of a
-- million rows): with the default setup and per-tuple costs it keeps the sort serial,
-- since every row passes through the gather. Transaction-local; rfm_parallel_off.sql
-- restores the values read here.
SELECT current_setting('parallel_setup_cost') AS setup_cost,
    current_setting('parallel_tuple_cost') AS tuple_cost,
    set_config('parallel_setup_cost', '0', true),
    set_config('parallel_tuple_cost', '0', true)
