-- The spending versions of day %(day)s: a row for each cell in spending_cells and an
-- all-categories row (category '') for each of their users and currencies, the month so
-- far ([month_start, window_end)) against the previous month's compared days
-- ([previous_start, previous_end)). The other categories of those users did not change
-- (their share of the month is computed on read). Spending: successful PAYMENT,
-- TRANSFER_OUT, WITHDRAWAL, BILL_PAYMENT.
INSERT INTO marts.customer_spending (
    user_id, month, currency, category, valid_from, spend, transactions,
    previous_spend, change_amount, change_percent, top_merchants
)
WITH tx AS (
    SELECT t.user_id COLLATE "C" AS user_id, t.currency COLLATE "C" AS currency,
        t.category COLLATE "C" AS category, t.merchant_id COLLATE "C" AS merchant_id, t.amount,
        t.occurred_at >= %(month_start)s AS current,
        c.category IS NOT NULL AS changed
    FROM raw.transactions t
    JOIN (SELECT DISTINCT user_id, currency FROM spending_cells) u
        ON u.user_id = t.user_id AND u.currency = t.currency
    LEFT JOIN spending_cells c
        ON c.user_id = t.user_id AND c.currency = t.currency AND c.category = t.category
    WHERE t.occurred_at >= %(previous_start)s AND t.occurred_at < %(window_end)s
        AND (t.occurred_at >= %(month_start)s OR t.occurred_at < %(previous_end)s)
        AND t.status = 'SUCCESS'
        AND t.transaction_type IN ('PAYMENT', 'TRANSFER_OUT', 'WITHDRAWAL', 'BILL_PAYMENT')
),
cells AS (
    SELECT user_id, currency, category,
        coalesce(sum(amount) FILTER (WHERE current), 0) AS spend,
        count(*) FILTER (WHERE current) AS transactions,
        sum(amount) FILTER (WHERE NOT current) AS previous_spend
    FROM tx
    WHERE changed
    GROUP BY user_id, currency, category
    UNION ALL
    SELECT user_id, currency, '',
        coalesce(sum(amount) FILTER (WHERE current), 0),
        count(*) FILTER (WHERE current),
        sum(amount) FILTER (WHERE NOT current)
    FROM tx
    GROUP BY user_id, currency
),
merchants AS (
    SELECT user_id, currency, category, merchant_id, sum(amount) AS spend,
        count(*) AS transactions
    FROM tx
    WHERE current AND changed AND merchant_id IS NOT NULL
    GROUP BY user_id, currency, category, merchant_id
    UNION ALL
    SELECT user_id, currency, '', merchant_id, sum(amount), count(*)
    FROM tx
    WHERE current AND merchant_id IS NOT NULL
    GROUP BY user_id, currency, merchant_id
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
    c.previous_spend,
    c.spend - c.previous_spend,
    round((c.spend - c.previous_spend) * 100 / c.previous_spend, 6),
    coalesce(top.top_merchants, '[]'::jsonb)
FROM cells c
LEFT JOIN top ON top.user_id = c.user_id AND top.currency = c.currency AND top.category = c.category
