-- SAVINGS_GOAL evidence of day %(day)s from the wallet window cells (made the day's by
-- wallet_window_cells.prepare): the same rows as surplus_windows_from_days.sql, whose
-- sums of the day rows they carry.
SELECT c.user_id, c.currency, c.w::integer AS window_index, c.credits, c.debits
FROM ml.wallet_window_cells c
ORDER BY 1, 2, 3;
