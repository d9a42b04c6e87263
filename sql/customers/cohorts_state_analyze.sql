-- After the full computation wrote every registration and its periods' user days: the
-- carried days that follow probe these tables per user, and with the statistics of an
-- emptier table the planner scans them whole for every probe (80 s instead of 4 at a
-- quarter of the benchmark's scale).
ANALYZE customers.cohort_registrations, customers.cohort_user_days
