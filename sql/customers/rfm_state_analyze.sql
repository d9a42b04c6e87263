-- Statistics of the day's fresh state partition: the scores read it next, and tomorrow's
-- state joins it; without them the planner takes it for a few hundred rows and sorts it.
SELECT customers.analyze_day('customers.rfm_state'::regclass, %(day)s)
