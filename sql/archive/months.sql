-- Every archived month with its files, for `archive list` and the retention rule.
SELECT
    m.raw_table, m.month, m.archived_at, m.source_rows, m.verified_at,
    m.verification_problem, m.raw_dropped_at,
    count(f.path) AS files,
    coalesce(sum(f.rows), 0)::bigint AS rows,
    coalesce(sum(f.bytes), 0)::bigint AS bytes
FROM archive.months m
LEFT JOIN archive.files f ON f.raw_table = m.raw_table AND f.month = m.month
GROUP BY m.raw_table, m.month
ORDER BY m.raw_table, m.month
