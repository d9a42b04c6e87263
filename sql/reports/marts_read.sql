-- The mart materializations a report read: per mart, the buckets of [from, to) it covers,
-- their rows and the newest materialization (marts.rollup_buckets).
SELECT mart, count(*)::bigint AS buckets, sum(rows)::bigint AS rows,
    max(materialized_at) AS materialized_at
FROM marts.rollup_buckets
WHERE mart = ANY(%(marts)s) AND bucket_start >= %(from)s AND bucket_start < %(to)s
GROUP BY mart
ORDER BY mart
