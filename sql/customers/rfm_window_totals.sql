-- Purchases and amount over the look-back window (first_day, day]: what a state built
-- for the window must add up to.
SELECT coalesce(sum(payments), 0)::bigint, coalesce(sum(amount), 0)
FROM customers.rfm_purchase_days
WHERE day > %(leaving_day)s AND day <= %(day)s
