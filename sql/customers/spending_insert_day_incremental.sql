-- The spending versions of day %(day)s for the users in spending_users, from their
-- versions of the month as of the day before and the day's own transactions: the same
-- rows as spending_insert_day.sql (the full computation from raw, kept as the reference
-- and for a day without the day before's state) at the cost of the changed users.
--
-- A changed user's latest version of a (currency, category) before the day
-- (spending_before) holds the month to date and the compared days of the previous month
-- as of the day before: the day adds its spending, and the previous month's days newly
-- compared on the day ([compared_from, compared_to)). The top merchants of a row paid on
-- the day are the first of spending_ranked; any other row keeps its list.
INSERT INTO marts.customer_spending (
    user_id, month, currency, category, valid_from, spend, transactions, month_share,
    previous_spend, change_amount, change_percent, top_merchants
)
WITH spent AS (
    SELECT t.user_id COLLATE "C" AS user_id, t.currency COLLATE "C" AS currency,
        t.category COLLATE "C" AS category, t.amount,
        t.occurred_at >= %(window_start)s AS today
    FROM raw.transactions t
    WHERE (
            t.occurred_at >= %(window_start)s AND t.occurred_at < %(window_end)s
            OR t.occurred_at >= %(compared_from)s AND t.occurred_at < %(compared_to)s
        )
        AND t.status = 'SUCCESS'
        AND t.transaction_type IN ('PAYMENT', 'TRANSFER_OUT', 'WITHDRAWAL', 'BILL_PAYMENT')
),
day AS (
    SELECT user_id, currency, coalesce(category, '') AS category,
        sum(amount) FILTER (WHERE today) AS spend,
        count(*) FILTER (WHERE today) AS transactions,
        sum(amount) FILTER (WHERE NOT today) AS newly_compared
    FROM spent
    GROUP BY GROUPING SETS ((user_id, currency, category), (user_id, currency))
),
cells AS (
    SELECT coalesce(b.user_id, d.user_id) AS user_id,
        coalesce(b.currency, d.currency) AS currency,
        coalesce(b.category, d.category) AS category,
        coalesce(b.spend, 0) + coalesce(d.spend, 0) AS spend,
        coalesce(b.transactions, 0) + coalesce(d.transactions, 0) AS transactions,
        CASE WHEN b.previous_spend IS NOT NULL OR d.newly_compared IS NOT NULL
            THEN coalesce(b.previous_spend, 0) + coalesce(d.newly_compared, 0)
        END AS previous_spend,
        b.top_merchants
    FROM spending_before b
    FULL JOIN day d ON d.user_id = b.user_id AND d.currency = b.currency
        AND d.category = b.category
),
shared AS (
    SELECT *, max(spend) FILTER (WHERE category = '') OVER (PARTITION BY user_id, currency) AS total
    FROM cells
),
top AS (
    SELECT user_id, currency, category,
        jsonb_agg(
            jsonb_build_object('merchant_id', merchant_id, 'spend', spend, 'transactions', transactions)
            ORDER BY rank
        ) AS top_merchants
    FROM spending_ranked
    WHERE rank <= %(top_merchants)s
    GROUP BY 1, 2, 3
)
SELECT c.user_id, %(month)s, c.currency, c.category, %(day)s, c.spend, c.transactions,
    round(c.spend / nullif(c.total, 0), 6),
    c.previous_spend,
    c.spend - c.previous_spend,
    round((c.spend - c.previous_spend) * 100 / c.previous_spend, 6),
    coalesce(top.top_merchants, c.top_merchants, '[]'::jsonb)
FROM shared c
LEFT JOIN top ON top.user_id = c.user_id AND top.currency = c.currency AND top.category = c.category
