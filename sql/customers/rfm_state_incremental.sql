-- The state of `day` from the previous day's: add the day's purchases, subtract those of
-- the day leaving the window (leaving_day = day - lookback). The last purchase day is
-- the newest of the two: if the user's old last day is the one leaving, their remaining
-- purchases (if any) are today's. Cost: the users in the window plus two days of rows.
INSERT INTO customers.rfm_state (day, user_id, currency, payments, amount, last_day)
SELECT %(day)s, user_id, currency, sum(payments), sum(amount), max(last_day)
FROM (
    SELECT user_id, currency, payments, amount, last_day
    FROM customers.rfm_state WHERE day = %(previous_day)s
    UNION ALL
    SELECT user_id, currency, payments, amount, day
    FROM customers.rfm_daily_purchases WHERE day = %(day)s
    UNION ALL
    SELECT user_id, currency, -payments, -amount, NULL
    FROM customers.rfm_daily_purchases WHERE day = %(leaving_day)s
) AS s
GROUP BY user_id, currency
HAVING sum(payments) > 0
