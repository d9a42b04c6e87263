-- SAVINGS_GOAL evidence of day %(day)s from the wallet window cells (made the day's by
-- wallet_window_cells.prepare): the rows of surplus_windows_from_days.sql (whose sums of
-- the day rows the cells carry) of the pairs that can be steady only: every one of the
-- last %(months)s windows has more credits than debits (surplus.steady_surplus's first
-- test: a window without a cell has none) and an earlier window has a change.
WITH pairs AS (
    SELECT user_id, currency
    FROM ml.wallet_window_cells
    GROUP BY 1, 2
    HAVING count(*) FILTER (WHERE w < %(months)s AND credits > debits) = %(months)s
       AND bool_or(w >= %(months)s)
)
SELECT c.user_id, c.currency, c.w::integer AS window_index, c.credits, c.debits
FROM ml.wallet_window_cells c
JOIN pairs p ON p.user_id = c.user_id AND p.currency = c.currency
ORDER BY 1, 2, 3;
