-- The state of `day` from the previous day's: add the day's purchases, subtract those of
-- the day leaving the window (leaving_day = day - lookback). Only the (user, currency)
-- pairs with purchases on one of those two days change; every other row of the previous
-- state is copied as it is (an anti-join against the few changed keys, far cheaper than
-- aggregating every user again). The last purchase day of a changed pair is the newest of
-- the two: if its old last day is the one leaving, its remaining purchases (if any) are
-- today's. Pairs left with no purchase are dropped.
WITH changed AS (
    SELECT user_id, currency, payments, amount, day AS last_day
    FROM customers.rfm_daily_purchases WHERE day = %(day)s
    UNION ALL
    SELECT user_id, currency, -payments, -amount, NULL
    FROM customers.rfm_daily_purchases WHERE day = %(leaving_day)s
),
changed_keys AS (
    SELECT DISTINCT user_id, currency FROM changed
)
INSERT INTO customers.rfm_state (day, user_id, currency, payments, amount, last_day)
SELECT %(day)s, p.user_id, p.currency, p.payments, p.amount, p.last_day
FROM customers.rfm_state AS p
WHERE p.day = %(previous_day)s
    AND NOT EXISTS (
        SELECT 1 FROM changed_keys AS k WHERE k.user_id = p.user_id AND k.currency = p.currency
    )
UNION ALL
SELECT %(day)s, user_id, currency, sum(payments), sum(amount), max(last_day)
FROM (
    SELECT p.user_id, p.currency, p.payments, p.amount, p.last_day
    FROM customers.rfm_state AS p
    JOIN changed_keys AS k USING (user_id, currency)
    WHERE p.day = %(previous_day)s
    UNION ALL
    SELECT user_id, currency, payments, amount, last_day FROM changed
) AS s
GROUP BY user_id, currency
HAVING sum(payments) > 0
