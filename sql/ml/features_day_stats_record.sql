-- Records that local day %(day)s's ml.user_day_stats were built in %(tz)s from the raw
-- rows of %(source_rows)s ingested rows (day_table_due.sql compares them).
INSERT INTO ml.user_day_stats_days (day, tz, source_rows, users)
VALUES (%(day)s, %(tz)s, %(source_rows)s, %(users)s)
ON CONFLICT (day) DO UPDATE
    SET tz = EXCLUDED.tz, source_rows = EXCLUDED.source_rows, users = EXCLUDED.users,
        built_at = clock_timestamp();
