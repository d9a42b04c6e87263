INSERT INTO marts.customer_days AS d (asset, day, day_start, day_end, rows, source_rows)
VALUES (%(asset)s, %(day)s, %(window_start)s, %(window_end)s, %(rows)s, %(source_rows)s)
ON CONFLICT (asset, day) DO UPDATE
    SET day_start = EXCLUDED.day_start, day_end = EXCLUDED.day_end, rows = EXCLUDED.rows,
        source_rows = EXCLUDED.source_rows, materialized_at = clock_timestamp()
