-- Stores the window of %(day)s (replacing any earlier one of that day).
INSERT INTO ml.interaction_windows (
    day, tz, history_days, source_rows, method, user_count, item_count, entry_count,
    users, items, entries, merchant_categories
)
VALUES (
    %(day)s, %(tz)s, %(history_days)s, %(source_rows)s, %(method)s, %(user_count)s,
    %(item_count)s, %(entry_count)s, %(users)s, %(items)s, %(entries)s,
    %(merchant_categories)s
)
ON CONFLICT (day) DO UPDATE
    SET tz = EXCLUDED.tz, history_days = EXCLUDED.history_days,
        source_rows = EXCLUDED.source_rows, method = EXCLUDED.method,
        user_count = EXCLUDED.user_count, item_count = EXCLUDED.item_count,
        entry_count = EXCLUDED.entry_count, users = EXCLUDED.users, items = EXCLUDED.items,
        entries = EXCLUDED.entries, merchant_categories = EXCLUDED.merchant_categories,
        built_at = clock_timestamp();
