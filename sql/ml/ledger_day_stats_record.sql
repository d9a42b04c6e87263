-- Records that local day %(day)s's ml.spend_day_stats and ml.wallet_day_stats were built
-- in %(tz)s from the raw rows of %(source_rows)s ingested rows (day_table_due.sql
-- compares them).
INSERT INTO ml.ledger_day_stats_days (day, tz, source_rows, spend_rows, wallet_rows)
VALUES (%(day)s, %(tz)s, %(source_rows)s, %(spend_rows)s, %(wallet_rows)s)
ON CONFLICT (day) DO UPDATE
    SET tz = EXCLUDED.tz, source_rows = EXCLUDED.source_rows,
        spend_rows = EXCLUDED.spend_rows, wallet_rows = EXCLUDED.wallet_rows,
        built_at = clock_timestamp();
