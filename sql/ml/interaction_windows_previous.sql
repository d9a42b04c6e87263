-- The window of %(day)s if it may be carried forward: cut in %(tz)s over
-- %(history_days)s days, and built when ingestion had recorded %(source_rows)s rows in its
-- hours, as now (interaction_windows_source_rows.sql). No row: count in full.
SELECT users, items, entries, merchant_categories
FROM ml.interaction_windows
WHERE day = %(day)s
    AND tz = %(tz)s
    AND history_days = %(history_days)s
    AND source_rows = %(source_rows)s;
