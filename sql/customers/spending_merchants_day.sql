-- The merchants the changed users paid on day %(day)s with their month to date: the month
-- to date before the day plus the day's, per currency, category (and '') and merchant.
-- Before the day, a merchant's month to date is in the day before's top list when listed
-- there; when the list is shorter than its bound it lists every merchant of the month
-- (an unlisted one had nothing); only a merchant missing from a full list is looked up in
-- customers.spending_merchants, which holds the merchants that are not in a top list.
CREATE TEMP TABLE spending_merchants_now AS
WITH day AS (
    SELECT user_id, currency, coalesce(category, '') AS category, merchant_id,
        sum(amount) AS spend, count(*) AS transactions
    FROM (
        SELECT user_id COLLATE "C" AS user_id, currency COLLATE "C" AS currency,
            category COLLATE "C" AS category, merchant_id COLLATE "C" AS merchant_id, amount
        FROM raw.transactions
        WHERE occurred_at >= %(window_start)s AND occurred_at < %(window_end)s
            AND status = 'SUCCESS'
            AND transaction_type IN ('PAYMENT', 'TRANSFER_OUT', 'WITHDRAWAL', 'BILL_PAYMENT')
            AND merchant_id IS NOT NULL
    ) t
    GROUP BY GROUPING SETS ((user_id, currency, category, merchant_id), (user_id, currency, merchant_id))
),
-- The lists of the rows paid on the day only (the others keep theirs).
listed AS (
    SELECT b.user_id, b.currency, b.category, (m ->> 'merchant_id') COLLATE "C" AS merchant_id,
        (m ->> 'spend')::numeric AS spend, (m ->> 'transactions')::bigint AS transactions
    FROM spending_before b
    JOIN (SELECT DISTINCT user_id, currency, category FROM day) k ON k.user_id = b.user_id
        AND k.currency = b.currency AND k.category = b.category
    CROSS JOIN LATERAL jsonb_array_elements(b.top_merchants) AS m
)
SELECT d.user_id, d.currency, d.category, d.merchant_id,
    coalesce(l.spend, p.spend, 0) + d.spend AS spend,
    coalesce(l.transactions, p.transactions, 0) + d.transactions AS transactions
FROM day d
LEFT JOIN listed l ON l.user_id = d.user_id AND l.currency = d.currency
    AND l.category = d.category AND l.merchant_id = d.merchant_id
LEFT JOIN spending_before b ON b.user_id = d.user_id AND b.currency = d.currency
    AND b.category = d.category
LEFT JOIN LATERAL (
    SELECT m.spend, m.transactions
    FROM customers.spending_merchants m
    WHERE l.merchant_id IS NULL AND jsonb_array_length(b.top_merchants) >= %(top_merchants)s
        AND m.user_id = d.user_id AND m.month = %(month)s AND m.currency = d.currency
        AND m.category = d.category AND m.merchant_id = d.merchant_id
        AND m.valid_from < %(day)s
    ORDER BY m.valid_from DESC
    LIMIT 1
) p ON true
