INSERT INTO customers.cohort_state_days AS d (day, method)
VALUES (%(day)s, %(method)s)
ON CONFLICT (day) DO UPDATE SET method = EXCLUDED.method, computed_at = now()
