-- The cells whose window no longer holds any day row of theirs.
DELETE FROM ml.spending_trend_cells WHERE day_rows = 0;
