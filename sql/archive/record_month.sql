-- A month was (re-)archived: its state starts over, unverified, with raw rows to drop
-- again once verified (files of an earlier drop keep their own raw_dropped_at).
INSERT INTO archive.months AS m (raw_table, month, archived_at, source_rows)
VALUES (%(raw_table)s, %(month)s, now(), %(source_rows)s)
ON CONFLICT (raw_table, month) DO UPDATE
    SET archived_at = EXCLUDED.archived_at,
        source_rows = EXCLUDED.source_rows,
        verified_at = NULL,
        verification_problem = NULL,
        raw_dropped_at = NULL
