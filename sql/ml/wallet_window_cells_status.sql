-- Whether the wallet window cells are current for day %(day)s ("current": as of the day),
-- can be moved to it ("movable": as of the day before), or neither (NULL): same zone and
-- windows, no day row they summed rebuilt after they were written (late events, another
-- zone, a re-run), and, to move, every non-zero amount entering or leaving a window of
-- the cells' scale (wallet_window_cells_state's header says why).
SELECT CASE WHEN s.day = %(day)s::date THEN 'current'
            WHEN NOT EXISTS (
                SELECT 1 FROM ml.wallet_day_stats x
                WHERE x.day = ANY (ARRAY(SELECT %(day)s::date - %(window_days)s * k
                                         FROM generate_series(0, %(windows)s) AS k))
                  AND ((x.credits <> 0 AND scale(x.credits) IS DISTINCT FROM s.amount_scale)
                       OR (x.debits <> 0 AND scale(x.debits) IS DISTINCT FROM s.amount_scale)))
            THEN 'movable'
       END
FROM ml.wallet_window_cells_state s
WHERE s.day IN (%(day)s::date, %(day)s::date - 1)
  AND s.tz = %(tz)s
  AND s.window_days = %(window_days)s
  AND s.windows = %(windows)s
  AND NOT EXISTS (
      SELECT 1 FROM ml.ledger_day_stats_days d
      WHERE d.day > s.day - s.window_days * s.windows AND d.day <= s.day
        AND (d.built_at > s.written_at OR d.tz <> s.tz));
