-- The wallet window cells emptied before they are summed again from the day rows.
TRUNCATE ml.wallet_window_cells;
