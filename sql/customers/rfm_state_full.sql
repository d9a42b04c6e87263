-- The state of `day` computed from scratch over the window (leaving_day, day]: the
-- reference the incremental state must equal, and the path when there is no usable
-- previous state (first day, a changed look-back, a day recomputed after a late event).
INSERT INTO customers.rfm_state (day, user_id, currency, payments, amount, last_day)
SELECT %(day)s, user_id, currency, sum(payments), sum(amount), max(day)
FROM customers.rfm_daily_purchases
WHERE day > %(leaving_day)s AND day <= %(day)s
GROUP BY user_id, currency
