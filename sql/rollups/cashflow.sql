-- Cashflow rollup of one grain over [window_start, window_end): money that moved (SUCCESS
-- transactions) per bucket, user and currency, and for the platform (user_id '').
-- The direction comes from the transaction type: TOPUP, TRANSFER_IN and REFUND bring money
-- into a wallet; PAYMENT, TRANSFER_OUT, WITHDRAWAL and BILL_PAYMENT take it out.
-- Rendered per grain: {table} is the mart, {grain} the date_trunc unit.
--
-- Per-user rows start at the daily grain: a user makes about one transaction an hour, so
-- hourly per-user rows would copy raw (and cost more to write than everything else here).
-- The hourly grain groups users away (user_id folds to NULL) and keeps platform rows only.
-- Sums only, so both levels hash-aggregate in one scan; the platform row is the sum of the
-- user rows, which is exact for sums and counts.
WITH per_user AS (
    SELECT
        date_trunc({grain}, occurred_at, %(tz)s) AS bucket_start,
        CASE WHEN {grain} <> 'hour' THEN user_id COLLATE "C" END AS user_id,
        currency COLLATE "C" AS currency,
        coalesce(sum(amount) FILTER (WHERE is_inflow), 0) AS inflow,
        coalesce(sum(amount) FILTER (WHERE NOT is_inflow), 0) AS outflow,
        count(*) FILTER (WHERE is_inflow) AS inflow_count,
        count(*) FILTER (WHERE NOT is_inflow) AS outflow_count
    FROM raw.transactions,
        LATERAL (SELECT transaction_type IN ('TOPUP', 'TRANSFER_IN', 'REFUND') AS is_inflow) AS d
    WHERE occurred_at >= %(window_start)s AND occurred_at < %(window_end)s
        AND status = 'SUCCESS'
    GROUP BY 1, 2, 3
),
platform AS (
    SELECT
        bucket_start, '' AS user_id, currency,
        sum(inflow) AS inflow, sum(outflow) AS outflow,
        sum(inflow_count) AS inflow_count, sum(outflow_count) AS outflow_count
    FROM per_user
    GROUP BY bucket_start, currency
)
INSERT INTO {table} (
    bucket_start, user_id, currency, inflow, outflow, net, inflow_count, outflow_count
)
SELECT bucket_start, user_id, currency, inflow, outflow, inflow - outflow, inflow_count, outflow_count
FROM per_user
WHERE user_id IS NOT NULL
UNION ALL
SELECT bucket_start, user_id, currency, inflow, outflow, inflow - outflow, inflow_count, outflow_count
FROM platform
