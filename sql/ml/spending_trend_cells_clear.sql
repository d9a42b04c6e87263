-- SPENDING_TREND's carried state emptied before it is summed again from the day rows.
TRUNCATE ml.spending_trend_cells;
