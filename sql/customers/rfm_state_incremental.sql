-- The state of `day` from the previous day's: add the day's purchases, subtract those of
-- the day leaving the window (leaving_day = day - lookback). Only the (user, currency)
-- pairs with purchases on one of those two days change: they are netted first (a few
-- tens of thousands of rows), then the previous state is read once and full-joined to
-- them on a hash of the small side; every other row is copied as it is (one pass over
-- the previous state instead of an anti-join and a join: 0.5-1 s less of CPU a day at a
-- million users). The last purchase day of a changed pair is the newer of the two: if its
-- old last day is the one leaving, its remaining purchases (if any) are today's. Pairs
-- left with no purchase are dropped.
WITH changes AS (
    SELECT user_id, currency, sum(payments) AS payments, sum(amount) AS amount,
        max(last_day) AS last_day
    FROM (
        SELECT user_id, currency, payments, amount, day AS last_day
        FROM customers.rfm_daily_purchases WHERE day = %(day)s
        UNION ALL
        SELECT user_id, currency, -payments, -amount, NULL
        FROM customers.rfm_daily_purchases WHERE day = %(leaving_day)s
    ) AS c
    GROUP BY user_id, currency
)
INSERT INTO customers.rfm_state (day, user_id, currency, payments, amount, last_day)
SELECT %(day)s, coalesce(p.user_id, c.user_id), coalesce(p.currency, c.currency),
    coalesce(p.payments, 0) + coalesce(c.payments, 0),
    coalesce(p.amount, 0) + coalesce(c.amount, 0),
    -- greatest() skips NULLs: a pair with only a leaving day keeps its old last day.
    greatest(p.last_day, c.last_day)
FROM (SELECT * FROM customers.rfm_state WHERE day = %(previous_day)s) AS p
FULL JOIN changes AS c ON c.user_id = p.user_id AND c.currency = p.currency
WHERE coalesce(p.payments, 0) + coalesce(c.payments, 0) > 0
