-- The day (zone, windows) the wallet window cells were summed again for, and the scale
-- of the non-zero amounts summed (wallet_window_cells_state's header says why).
INSERT INTO ml.wallet_window_cells_state (day, tz, window_days, windows, amount_scale, written_at)
SELECT %(day)s::date, %(tz)s, %(window_days)s, %(windows)s,
       CASE WHEN min(a.scale) = max(a.scale) THEN min(a.scale) END,
       clock_timestamp()
FROM ml.wallet_day_stats s
CROSS JOIN LATERAL (VALUES (CASE WHEN s.credits <> 0 THEN scale(s.credits) END),
                           (CASE WHEN s.debits <> 0 THEN scale(s.debits) END)) AS a(scale)
WHERE s.day > %(day)s::date - %(window_days)s * %(windows)s
  AND s.day <= %(day)s::date
ON CONFLICT (singleton) DO UPDATE
SET day = excluded.day, tz = excluded.tz, window_days = excluded.window_days,
    windows = excluded.windows, amount_scale = excluded.amount_scale,
    written_at = excluded.written_at;
