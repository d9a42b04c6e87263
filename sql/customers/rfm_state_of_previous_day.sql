-- The previous day's state record, when it was built with the same look-back.
SELECT payments, amount
FROM customers.rfm_state_days
WHERE day = %(previous_day)s AND lookback_days = %(lookback_days)s
