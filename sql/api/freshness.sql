-- The materializations a response reads: the marts' buckets starting in
-- [window_start, window_end). Their newest materialized_at is the response's
-- Last-Modified; count and rows change when a bucket appears or is replaced.
SELECT max(materialized_at) AS last_modified, count(*) AS buckets, coalesce(sum(rows), 0) AS rows
FROM marts.rollup_buckets
WHERE mart = ANY(%(marts)s::text[])
    AND bucket_start >= %(window_start)s AND bucket_start < %(window_end)s
