-- The user-currency pairs SAVINGS_GOAL examines on day %(day)s: those with a wallet change
-- in any window of the wallet window cells (made the day's by wallet_window_cells.prepare).
SELECT count(*) FROM (SELECT DISTINCT user_id, currency FROM ml.wallet_window_cells) AS pairs;
