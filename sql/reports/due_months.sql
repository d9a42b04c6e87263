-- Months whose reports should be (re)rendered, as of %(now)s:
-- - 'rollups in': a closed month whose monthly transactions bucket was materialized after
--   every daily bucket of the month (the rollup automation builds months from days) and
--   that has no platform report yet;
-- - 'late data': a month with a platform report, one of whose mart buckets the report
--   reads was re-materialized after the report was rendered (a re-run day), once the
--   month is ready again as above; the reason names the newest such day.
WITH months AS (
    SELECT r.bucket_start AS month_start, r.bucket_end AS month_end,
        r.materialized_at AS month_materialized_at
    FROM marts.rollup_buckets r
    WHERE r.mart = 'transactions_monthly' AND r.bucket_end <= %(now)s
),
ready AS (
    SELECT m.*
    FROM months m
    WHERE m.month_materialized_at >= coalesce((
        SELECT max(d.materialized_at) FROM marts.rollup_buckets d
        WHERE d.mart = 'transactions_daily'
            AND d.bucket_start >= m.month_start AND d.bucket_start < m.month_end
    ), '-infinity')
)
SELECT ready.month_start, 'rollups in' AS reason
FROM ready
LEFT JOIN reports.monthly_reports p
    ON p.month = (ready.month_start AT TIME ZONE %(tz)s)::date AND p.merchant_id = ''
WHERE p.month IS NULL
UNION ALL
SELECT ready.month_start,
    format('late data: %%s %%s re-materialized at %%s', late.mart,
        (late.bucket_start AT TIME ZONE %(tz)s)::date, late.materialized_at)
FROM ready
JOIN reports.monthly_reports p
    ON p.month = (ready.month_start AT TIME ZONE %(tz)s)::date AND p.merchant_id = ''
CROSS JOIN LATERAL (
    SELECT b.mart, b.bucket_start, b.materialized_at
    FROM marts.rollup_buckets b
    WHERE b.mart = ANY(%(marts)s)
        AND b.bucket_start >= ready.month_start AND b.bucket_start < ready.month_end
        AND b.materialized_at > p.rendered_at
    -- A re-run day re-materializes its hours, its day and its month: name the day.
    ORDER BY b.mart LIKE '%%daily' DESC, b.materialized_at DESC
    LIMIT 1
) late
ORDER BY 1
