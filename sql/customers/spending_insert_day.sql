-- The spending versions of day %(day)s for the users in spending_users: the month so far
-- ([month_start, window_end)) against the previous month's compared days
-- ([previous_start, previous_end)), per currency and category and over all categories
-- (category ''). Spending: successful PAYMENT, TRANSFER_OUT, WITHDRAWAL, BILL_PAYMENT.
INSERT INTO marts.customer_spending (
    user_id, month, currency, category, valid_from, spend, transactions, month_share,
    previous_spend, change_amount, change_percent, top_merchants
)
WITH tx AS (
    SELECT t.user_id COLLATE "C" AS user_id, t.currency COLLATE "C" AS currency,
        t.category COLLATE "C" AS category, t.merchant_id COLLATE "C" AS merchant_id, t.amount,
        t.occurred_at >= %(month_start)s AS current
    FROM raw.transactions t
    JOIN spending_users u ON u.user_id = t.user_id
    WHERE t.occurred_at >= %(previous_start)s AND t.occurred_at < %(window_end)s
        AND (t.occurred_at >= %(month_start)s OR t.occurred_at < %(previous_end)s)
        AND t.status = 'SUCCESS'
        AND t.transaction_type IN ('PAYMENT', 'TRANSFER_OUT', 'WITHDRAWAL', 'BILL_PAYMENT')
),
cells AS (
    SELECT user_id, currency, coalesce(category, '') AS category,
        coalesce(sum(amount) FILTER (WHERE current), 0) AS spend,
        count(*) FILTER (WHERE current) AS transactions,
        sum(amount) FILTER (WHERE NOT current) AS previous_spend
    FROM tx
    GROUP BY GROUPING SETS ((user_id, currency, category), (user_id, currency))
),
-- The month's spend in the currency beside every row (a window, not a self-join of the
-- CTE: its row estimate is a guess, and a nested loop over it took minutes).
shared AS (
    SELECT *, max(spend) FILTER (WHERE category = '') OVER (PARTITION BY user_id, currency) AS total
    FROM cells
),
merchants AS (
    SELECT user_id, currency, coalesce(category, '') AS category, merchant_id,
        sum(amount) AS spend, count(*) AS transactions
    FROM tx
    WHERE current AND merchant_id IS NOT NULL
    GROUP BY GROUPING SETS ((user_id, currency, category, merchant_id), (user_id, currency, merchant_id))
),
ranked AS (
    SELECT *, row_number() OVER (
        PARTITION BY user_id, currency, category ORDER BY spend DESC, merchant_id
    ) AS rank
    FROM merchants
),
top AS (
    SELECT user_id, currency, category,
        jsonb_agg(
            jsonb_build_object('merchant_id', merchant_id, 'spend', spend, 'transactions', transactions)
            ORDER BY rank
        ) AS top_merchants
    FROM ranked
    WHERE rank <= %(top_merchants)s
    GROUP BY 1, 2, 3
)
SELECT c.user_id, %(month)s, c.currency, c.category, %(day)s, c.spend, c.transactions,
    round(c.spend / nullif(c.total, 0), 6),
    c.previous_spend,
    c.spend - c.previous_spend,
    round((c.spend - c.previous_spend) * 100 / c.previous_spend, 6),
    coalesce(top.top_merchants, '[]'::jsonb)
FROM shared c
LEFT JOIN top ON top.user_id = c.user_id AND top.currency = c.currency AND top.category = c.category
