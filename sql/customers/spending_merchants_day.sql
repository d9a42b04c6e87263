-- The merchants the changed users paid on day %(day)s with their month to date: the
-- latest state before the day (customers.spending_merchants) plus the day's transactions,
-- per currency, category (and '') and merchant.
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
)
SELECT d.user_id, d.currency, d.category, d.merchant_id,
    coalesce(p.spend, 0) + d.spend AS spend,
    coalesce(p.transactions, 0) + d.transactions AS transactions
FROM day d
LEFT JOIN LATERAL (
    SELECT m.spend, m.transactions
    FROM customers.spending_merchants m
    WHERE m.user_id = d.user_id AND m.month = %(month)s AND m.currency = d.currency
        AND m.category = d.category AND m.merchant_id = d.merchant_id
        AND m.valid_from < %(day)s
    ORDER BY m.valid_from DESC
    LIMIT 1
) p ON true
