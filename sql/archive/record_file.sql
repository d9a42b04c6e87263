INSERT INTO archive.files (
    raw_table, month, path, rows, bytes, min_occurred_at, max_occurred_at, checksum,
    checksum_version, raw_checksum
) VALUES (
    %(raw_table)s, %(month)s, %(path)s, %(rows)s, %(bytes)s,
    %(min_occurred_at)s, %(max_occurred_at)s, %(checksum)s,
    %(checksum_version)s, %(raw_checksum)s
)
