-- Records that local day %(day)s's ml.budget_day_spend was built in %(tz)s from the raw
-- rows of %(source_rows)s ingested rows (day_table_due.sql compares them).
INSERT INTO ml.budget_day_spend_days (day, tz, source_rows, spend_rows)
VALUES (%(day)s, %(tz)s, %(source_rows)s, %(spend_rows)s)
ON CONFLICT (day) DO UPDATE
    SET tz = EXCLUDED.tz, source_rows = EXCLUDED.source_rows,
        spend_rows = EXCLUDED.spend_rows, built_at = clock_timestamp();
