-- The user x item counts of the local days [%(first_day)s, %(last_day)s] in %(tz)s:
-- successful transactions the user started (not TRANSFER_IN or REFUND, which happen to
-- the user), counted once per item they involve:
--   merchant          the merchant paid (PAYMENT, BILL_PAYMENT), labelled with its category;
--   payment_method    the method used;
--   transaction_type  the kind of transaction.
-- Unordered: interactions.py sorts users and items itself (a sort here costs more).
WITH tx AS (
    SELECT user_id, transaction_type, payment_method, merchant_id, category
    FROM raw.transactions
    WHERE status = 'SUCCESS'
      AND transaction_type NOT IN ('TRANSFER_IN', 'REFUND')
      AND occurred_at >= (%(first_day)s::date::timestamp AT TIME ZONE %(tz)s)
      AND occurred_at < ((%(last_day)s::date + 1)::timestamp AT TIME ZONE %(tz)s)
),
items AS (
    SELECT user_id, 'merchant' AS kind, merchant_id AS item, category AS label
    FROM tx
    WHERE merchant_id IS NOT NULL AND transaction_type IN ('PAYMENT', 'BILL_PAYMENT')
    UNION ALL
    SELECT user_id, 'payment_method', payment_method, payment_method FROM tx
    UNION ALL
    SELECT user_id, 'transaction_type', transaction_type, transaction_type FROM tx
)
SELECT user_id, kind, item, min(label) AS label, count(*)::integer AS count
FROM items
GROUP BY user_id, kind, item;
