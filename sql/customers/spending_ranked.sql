-- The merchants of the (currency, category) rows paid on day %(day)s that can be in their
-- top list, ranked: the day before's listed ones and the day's (a merchant's month to date
-- only grows, so no other merchant can pass them). A row not paid on the day keeps its list.
CREATE TEMP TABLE spending_ranked AS
WITH candidates AS (
    SELECT user_id, currency, category, merchant_id, spend, transactions
    FROM spending_merchants_now
    UNION ALL
    SELECT b.user_id, b.currency, b.category, e.merchant_id, e.spend, e.transactions
    FROM spending_before b
    JOIN (SELECT DISTINCT user_id, currency, category FROM spending_merchants_now) k
        ON k.user_id = b.user_id AND k.currency = b.currency AND k.category = b.category
    CROSS JOIN LATERAL (
        SELECT (m ->> 'merchant_id') COLLATE "C" AS merchant_id, (m ->> 'spend')::numeric AS spend,
            (m ->> 'transactions')::bigint AS transactions
        FROM jsonb_array_elements(b.top_merchants) AS m
    ) e
    WHERE NOT EXISTS (
        SELECT 1 FROM spending_merchants_now n
        WHERE n.user_id = b.user_id AND n.currency = b.currency AND n.category = b.category
            AND n.merchant_id = e.merchant_id
    )
)
SELECT *, row_number() OVER (
    PARTITION BY user_id, currency, category ORDER BY spend DESC, merchant_id
) AS rank
FROM candidates
