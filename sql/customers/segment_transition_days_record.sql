INSERT INTO customers.segment_transition_days (day, rows)
VALUES (%(day)s, %(rows)s)
ON CONFLICT (day) DO UPDATE SET rows = EXCLUDED.rows, computed_at = now()
