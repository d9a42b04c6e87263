-- The merchant state of day %(day)s: the ranked merchants that are not in their top list
-- (paid on the day, or pushed out of the list by one that was).
INSERT INTO customers.spending_merchants (
    user_id, month, currency, category, merchant_id, valid_from, spend, transactions
)
SELECT user_id, %(month)s, currency, category, merchant_id, %(day)s, spend, transactions
FROM spending_ranked
WHERE rank > %(top_merchants)s
