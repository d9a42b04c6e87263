-- The successful transactions the user started (not TRANSFER_IN or REFUND, which happen
-- to the user) on the local days [%(first_day)s, %(last_day)s] in %(tz)s, counted per
-- (transaction_type, payment_method, merchant_id): interactions.py expands each count to
-- the items it involves (merchant, payment method, transaction type), which is cheaper
-- in polars than a three-fold expansion here.
-- One row per user: the user's combinations as parallel JSON arrays (one row per user,
-- not per combination: the client reads it with COPY, and per-row messages were most of
-- the reading cost). Unordered: interactions.py sorts users and items itself.
WITH combos AS (
    SELECT user_id, transaction_type, payment_method, merchant_id,
           min(category) AS category, count(*)::integer AS count
    FROM raw.transactions
    WHERE status = 'SUCCESS'
      AND transaction_type NOT IN ('TRANSFER_IN', 'REFUND')
      AND occurred_at >= (%(first_day)s::date::timestamp AT TIME ZONE %(tz)s)
      AND occurred_at < ((%(last_day)s::date + 1)::timestamp AT TIME ZONE %(tz)s)
    GROUP BY user_id, transaction_type, payment_method, merchant_id
)
SELECT user_id, json_agg(transaction_type) AS transaction_types,
       json_agg(payment_method) AS payment_methods, json_agg(merchant_id) AS merchant_ids,
       json_agg(category) AS categories, json_agg(count) AS counts
FROM combos
GROUP BY user_id
