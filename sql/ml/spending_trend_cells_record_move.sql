-- SPENDING_TREND's cells are now as of day %(day)s (moved: zone, windows and scales as before).
UPDATE ml.spending_trend_cells_state SET day = %(day)s::date, written_at = clock_timestamp();
