INSERT INTO customers.spending_merchants (
    user_id, month, currency, category, merchant_id, valid_from, spend, transactions
)
SELECT user_id, %(month)s, currency, category, merchant_id, %(day)s, spend, transactions
FROM spending_merchants_now
