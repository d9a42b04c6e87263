-- The successful transactions the user started (not TRANSFER_IN or REFUND, which happen
-- to the user) on the local days [%(first_day)s, %(last_day)s] in %(tz)s, counted per
-- (user, transaction_type, payment_method, merchant_id, category): interactions.py expands
-- each count to the items it involves (merchant, payment method, transaction type), which
-- is cheaper in polars than a three-fold expansion here. The category is a key, not a
-- min(): a merchant's label is then its smallest category in code-point order whatever
-- the database's collation, and the carried window (interaction_window.py) can subtract a
-- day's payments per category exactly.
-- Out as CSV text (user_id, transaction_type, payment_method, merchant_id, category,
-- count), one line per combination, in %(buckets)s rows of many lines each: a row per
-- combination cost the client a protocol message each (most of its reading time), and
-- one row of JSON arrays per user cost the backend a second aggregation and the client
-- a JSON decode (issue 14, EXPLAIN ANALYZE and backend CPU). quote_ident quotes a value
-- exactly as CSV does (double quotes, doubled inside) when it is not plain lower-case
-- ASCII; NULL becomes the empty unquoted field, which the client reads as null.
-- Unordered: interactions.py sorts users and items itself.
WITH combos AS (
    SELECT user_id, transaction_type, payment_method, merchant_id, category,
           count(*)::integer AS count
    FROM raw.transactions
    WHERE status = 'SUCCESS'
      AND transaction_type NOT IN ('TRANSFER_IN', 'REFUND')
      AND occurred_at >= (%(first_day)s::date::timestamp AT TIME ZONE %(tz)s)
      AND occurred_at < ((%(last_day)s::date + 1)::timestamp AT TIME ZONE %(tz)s)
    GROUP BY user_id, transaction_type, payment_method, merchant_id, category
)
SELECT string_agg(
    concat_ws(
        ',',
        quote_ident(user_id),
        coalesce(quote_ident(transaction_type), ''),
        coalesce(quote_ident(payment_method), ''),
        coalesce(quote_ident(merchant_id), ''),
        coalesce(quote_ident(category), ''),
        count
    ),
    E'\n'
) AS lines
FROM combos
GROUP BY hashtext(user_id) %% %(buckets)s
