-- The day's successful transactions per user and currency (inflow and outflow as the
-- cashflow marts define them).
CREATE TEMP TABLE profile_day_currencies AS
SELECT user_id COLLATE "C" AS user_id, currency COLLATE "C" AS currency,
    coalesce(sum(amount) FILTER (WHERE transaction_type IN ('TOPUP', 'TRANSFER_IN', 'REFUND')), 0) AS inflow,
    coalesce(sum(amount) FILTER (WHERE transaction_type NOT IN ('TOPUP', 'TRANSFER_IN', 'REFUND')), 0) AS outflow,
    count(*) FILTER (WHERE transaction_type IN ('TOPUP', 'TRANSFER_IN', 'REFUND')) AS inflow_count,
    count(*) FILTER (WHERE transaction_type NOT IN ('TOPUP', 'TRANSFER_IN', 'REFUND')) AS outflow_count
FROM raw.transactions
WHERE occurred_at >= %(window_start)s AND occurred_at < %(window_end)s AND status = 'SUCCESS'
GROUP BY 1, 2
