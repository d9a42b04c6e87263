-- The latest successful payments of [since, now) of one subject (merchant_id NULL: all),
-- newest first, after the cursor's (occurred_at, event_id).
SELECT occurred_at, event_id, transaction_id, user_id, merchant_id, amount, currency,
    payment_method, category
FROM api.raw_transactions
WHERE occurred_at >= %(since)s AND occurred_at < %(now)s
    AND status = 'SUCCESS' AND transaction_type = 'PAYMENT'
    AND (%(merchant_id)s::text IS NULL OR merchant_id = %(merchant_id)s)
    AND (occurred_at, event_id) < (%(before_at)s::timestamptz, %(before_id)s::uuid)
ORDER BY occurred_at DESC, event_id DESC
LIMIT %(limit)s
