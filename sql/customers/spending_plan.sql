-- No nested loops for the rest of the spending run's transaction (set_config local); no
-- JIT either, which a disabled nested loop's 1e10 plan cost would otherwise trigger on a
-- server with LLVM in a session without the platform's jit=off (see cohorts_plan.sql).
SELECT set_config('enable_nestloop', 'off', true), set_config('jit', 'off', true)
