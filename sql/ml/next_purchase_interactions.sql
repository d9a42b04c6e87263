-- The user x item counts of the local days [%(first_day)s, %(last_day)s] in %(tz)s:
-- successful transactions the user started (not TRANSFER_IN or REFUND, which happen to
-- the user), each counted once per item it involves:
--   merchant:<id>              the merchant paid (PAYMENT, BILL_PAYMENT), labelled with
--                              its category;
--   payment_method:<method>    the method used;
--   transaction_type:<type>    the kind of transaction.
-- One row per user: the user's item keys, their labels and counts, as three parallel
-- JSON arrays (one row per user, not per item: the client reads it with COPY, and
-- per-row messages were most of the reading cost). Unordered: interactions.py sorts
-- users and items itself. One scan: each transaction expands to its items in place.
WITH counted AS (
    SELECT t.user_id, i.item, min(i.label) AS label, count(*)::integer AS count
    FROM raw.transactions t
    CROSS JOIN LATERAL (VALUES
        (CASE WHEN t.transaction_type IN ('PAYMENT', 'BILL_PAYMENT')
              THEN 'merchant:' || t.merchant_id END, t.category),
        ('payment_method:' || t.payment_method, t.payment_method),
        ('transaction_type:' || t.transaction_type, t.transaction_type)
    ) AS i(item, label)
    WHERE t.status = 'SUCCESS'
      AND t.transaction_type NOT IN ('TRANSFER_IN', 'REFUND')
      AND t.occurred_at >= (%(first_day)s::date::timestamp AT TIME ZONE %(tz)s)
      AND t.occurred_at < ((%(last_day)s::date + 1)::timestamp AT TIME ZONE %(tz)s)
      AND i.item IS NOT NULL
    GROUP BY t.user_id, i.item
)
SELECT user_id, json_agg(item) AS items, json_agg(label) AS labels, json_agg(count) AS counts
FROM counted
GROUP BY user_id
