-- The users whose spending rows change on day %(day)s: those who spent that day, and
-- those who spent on the previous month's days the comparison takes in from that day
-- on ([compared_from, compared_to); empty when nothing new is compared).
CREATE TEMP TABLE spending_users AS
SELECT user_id COLLATE "C" AS user_id
FROM raw.transactions
WHERE occurred_at >= %(window_start)s AND occurred_at < %(window_end)s
    AND status = 'SUCCESS'
    AND transaction_type IN ('PAYMENT', 'TRANSFER_OUT', 'WITHDRAWAL', 'BILL_PAYMENT')
UNION
SELECT user_id COLLATE "C"
FROM raw.transactions
WHERE occurred_at >= %(compared_from)s AND occurred_at < %(compared_to)s
    AND status = 'SUCCESS'
    AND transaction_type IN ('PAYMENT', 'TRANSFER_OUT', 'WITHDRAWAL', 'BILL_PAYMENT')
