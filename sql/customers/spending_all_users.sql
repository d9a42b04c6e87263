-- The full computation's users of day %(day)s: everyone with spending in the month so far
-- or in the previous month's compared days, so the day's versions are the whole month as
-- of the day (the state a following day carries on from), not only what changed.
CREATE TEMP TABLE spending_users AS
SELECT DISTINCT user_id COLLATE "C" AS user_id
FROM raw.transactions
WHERE occurred_at >= %(previous_start)s AND occurred_at < %(window_end)s
    AND (occurred_at >= %(month_start)s OR occurred_at < %(previous_end)s)
    AND status = 'SUCCESS'
    AND transaction_type IN ('PAYMENT', 'TRANSFER_OUT', 'WITHDRAWAL', 'BILL_PAYMENT')
