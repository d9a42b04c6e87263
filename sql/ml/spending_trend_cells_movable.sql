-- Whether SPENDING_TREND's carried state can be moved to day %(day)s: it is exactly the
-- previous day's (same zone and windows), no day row it summed was rebuilt after it was
-- written (late events, another zone, a re-run), and every day row entering or leaving a
-- window has the state's scales (spending_trend_cells_state's header says why).
SELECT EXISTS (
    SELECT 1
    FROM ml.spending_trend_cells_state s
    WHERE s.day = %(day)s::date - 1
      AND s.tz = %(tz)s
      AND s.window_days = %(window_days)s
      AND s.windows = %(windows)s
      AND NOT EXISTS (
          SELECT 1 FROM ml.ledger_day_stats_days d
          WHERE d.day > s.day - s.window_days * s.windows AND d.day <= s.day
            AND (d.built_at > s.written_at OR d.tz <> s.tz))
      AND NOT EXISTS (
          SELECT 1 FROM ml.spend_day_stats x
          WHERE x.day = ANY (ARRAY(SELECT %(day)s::date - %(window_days)s * k
                                   FROM generate_series(0, %(windows)s) AS k))
            AND ((x.spend IS NOT NULL AND scale(x.spend) IS DISTINCT FROM s.spend_scale)
                 OR (x.sum_sq IS NOT NULL AND scale(x.sum_sq) IS DISTINCT FROM s.sum_sq_scale)))
);
