-- The days of [first_day, last_day] whose purchases have never been computed.
SELECT d::date
FROM generate_series(%(first_day)s::date, %(last_day)s::date, interval '1 day') AS d
WHERE NOT EXISTS (SELECT 1 FROM customers.rfm_purchase_days AS p WHERE p.day = d::date)
ORDER BY 1
