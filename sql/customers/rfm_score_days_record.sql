INSERT INTO customers.rfm_score_days (day, lookback_days, users)
VALUES (%(day)s, %(lookback_days)s, %(users)s)
ON CONFLICT (day) DO UPDATE SET lookback_days = EXCLUDED.lookback_days,
    users = EXCLUDED.users, computed_at = now()
