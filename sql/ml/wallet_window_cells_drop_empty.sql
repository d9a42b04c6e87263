-- The cells whose window no longer holds any day row of theirs.
DELETE FROM ml.wallet_window_cells WHERE day_rows = 0;
