-- No nested loops for the rest of the spending run's transaction (set_config local).
SELECT set_config('enable_nestloop', 'off', true)
