-- The full computation's merchant state of day %(day)s: every user's month to date per
-- currency, category (and '') and merchant, from raw, valid from the day.
INSERT INTO customers.spending_merchants (
    user_id, month, currency, category, merchant_id, valid_from, spend, transactions
)
SELECT user_id, %(month)s, currency, coalesce(category, ''), merchant_id, %(day)s, sum(amount),
    count(*)
FROM (
    SELECT user_id COLLATE "C" AS user_id, currency COLLATE "C" AS currency,
        category COLLATE "C" AS category, merchant_id COLLATE "C" AS merchant_id, amount
    FROM raw.transactions
    WHERE occurred_at >= %(month_start)s AND occurred_at < %(window_end)s
        AND status = 'SUCCESS'
        AND transaction_type IN ('PAYMENT', 'TRANSFER_OUT', 'WITHDRAWAL', 'BILL_PAYMENT')
        AND merchant_id IS NOT NULL
) t
GROUP BY GROUPING SETS ((user_id, currency, category, merchant_id), (user_id, currency, merchant_id))
