-- Held to the end of the transaction that reads, moves or sums the wallet window cells
-- (one state: SAVINGS_GOAL and INVESTMENT, in two lanes, take turns; the first of a day
-- moves them, the second finds them current). With spending_trend_cells_lock_days.sql
-- (the same day rows' rebuild locks, shared).
SELECT pg_advisory_xact_lock(hashtext('ml.wallet_window_cells'));
