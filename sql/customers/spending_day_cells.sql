-- The spending rows that change on day %(day)s, as (user, currency, category): the cells
-- paid that day, and those paid on the previous month's days the comparison takes in
-- from that day on ([compared_from, compared_to); empty when nothing new is compared).
-- Each one's user and currency also get a new all-categories row (category ''). No
-- other row changes: the month's share is computed on read (spending_as_of.sql).
CREATE TEMP TABLE spending_cells AS
SELECT user_id COLLATE "C" AS user_id, currency COLLATE "C" AS currency,
    category COLLATE "C" AS category
FROM raw.transactions
WHERE occurred_at >= %(window_start)s AND occurred_at < %(window_end)s
    AND status = 'SUCCESS'
    AND transaction_type IN ('PAYMENT', 'TRANSFER_OUT', 'WITHDRAWAL', 'BILL_PAYMENT')
UNION
SELECT user_id COLLATE "C", currency COLLATE "C", category COLLATE "C"
FROM raw.transactions
WHERE occurred_at >= %(compared_from)s AND occurred_at < %(compared_to)s
    AND status = 'SUCCESS'
    AND transaction_type IN ('PAYMENT', 'TRANSFER_OUT', 'WITHDRAWAL', 'BILL_PAYMENT')
