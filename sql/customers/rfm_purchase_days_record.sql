-- Record the days [first_day, last_day] as computed, with their totals (0 for a day
-- without purchases: it is computed all the same).
INSERT INTO customers.rfm_purchase_days (day, payments, amount)
SELECT d::date, coalesce(sum(p.payments), 0), coalesce(sum(p.amount), 0)
FROM generate_series(%(first_day)s::date, %(last_day)s::date, interval '1 day') AS d
LEFT JOIN customers.rfm_daily_purchases AS p ON p.day = d::date
GROUP BY d
