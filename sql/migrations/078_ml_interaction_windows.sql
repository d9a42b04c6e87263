-- ml.interaction_windows: PROMOTION and NEW_FEATURE's user x item counts over the
-- `history_days` local days ending with `day` (analytics_platform/ml/interaction_window.py),
-- kept so that the next day's window is this one plus its day minus the day leaving it,
-- instead of a new count of 90 days of raw.transactions (issue 14: about 190 of the step's
-- 213 CPU us per user). One row per day; the few newest days are kept.
--
-- A cache of raw.transactions, hence UNLOGGED (no WAL for tens of MB a day): a crash or a
-- promoted replica empties it, and the next day is then counted in full from the raw rows,
-- as it is when the previous day's row was cut in another zone, over another number of
-- days, or before late events (source_rows below).
--
-- The counts are Arrow IPC streams (written and read by polars; no pickle, nothing that
-- runs code on load), the matrix in CSR order:
--   users: user_id (sorted), entries (the user's non-zero items, in row order);
--   items: item (`kind:value`, sorted), label (a merchant's category, else the value);
--   entries: column (index into items), count, row after row;
--   merchant_categories: merchant_id, category, count (the window's payments per
--     merchant and category, from which a merchant's label follows after a day leaves).
-- Stored EXTERNAL: the streams are compressed by their writer, not again by TOAST.
CREATE UNLOGGED TABLE IF NOT EXISTS ml.interaction_windows (
    day date PRIMARY KEY,
    tz text NOT NULL,
    history_days integer NOT NULL CHECK (history_days > 0),
    -- Sum of ingest.touched_hours.rows_ingested over the hours of raw.transactions that
    -- overlap the window's days, read before its raw rows: a different sum now means late
    -- events reached the window, which is then counted in full.
    source_rows bigint NOT NULL,
    -- 'carried' (from the previous day's row) or 'full' (counted from the raw rows).
    method text NOT NULL CHECK (method IN ('carried', 'full')),
    user_count integer NOT NULL CHECK (user_count >= 0),
    item_count integer NOT NULL CHECK (item_count >= 0),
    entry_count bigint NOT NULL CHECK (entry_count >= 0),
    users bytea NOT NULL,
    items bytea NOT NULL,
    entries bytea NOT NULL,
    merchant_categories bytea NOT NULL,
    built_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
ALTER TABLE ml.interaction_windows
    ALTER COLUMN users SET STORAGE EXTERNAL,
    ALTER COLUMN items SET STORAGE EXTERNAL,
    ALTER COLUMN entries SET STORAGE EXTERNAL,
    ALTER COLUMN merchant_categories SET STORAGE EXTERNAL;
