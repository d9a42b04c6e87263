INSERT INTO customers.rfm_state_days (day, lookback_days, payments, amount, method)
VALUES (%(day)s, %(lookback_days)s, %(payments)s, %(amount)s, %(method)s)
ON CONFLICT (day) DO UPDATE SET lookback_days = EXCLUDED.lookback_days,
    payments = EXCLUDED.payments, amount = EXCLUDED.amount, method = EXCLUDED.method,
    computed_at = now()
