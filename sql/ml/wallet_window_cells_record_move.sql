-- The wallet window cells are now as of day %(day)s (moved: zone, windows and scale as before).
UPDATE ml.wallet_window_cells_state SET day = %(day)s::date, written_at = clock_timestamp();
