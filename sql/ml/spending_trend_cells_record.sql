-- The day (zone, windows) SPENDING_TREND's cells were summed again for, and the scales
-- of the day rows summed (spending_trend_cells_state's header says why).
INSERT INTO ml.spending_trend_cells_state
    (day, tz, window_days, windows, spend_scale, sum_sq_scale, written_at)
SELECT %(day)s::date, %(tz)s, %(window_days)s, %(windows)s,
       CASE WHEN min(scale(s.spend)) = max(scale(s.spend)) THEN min(scale(s.spend)) END,
       CASE WHEN min(scale(s.sum_sq)) = max(scale(s.sum_sq)) THEN min(scale(s.sum_sq)) END,
       clock_timestamp()
FROM ml.spend_day_stats s
WHERE s.day > %(day)s::date - %(window_days)s * %(windows)s
  AND s.day <= %(day)s::date
ON CONFLICT (singleton) DO UPDATE
SET day = excluded.day, tz = excluded.tz, window_days = excluded.window_days,
    windows = excluded.windows, spend_scale = excluded.spend_scale,
    sum_sq_scale = excluded.sum_sq_scale, written_at = excluded.written_at;
