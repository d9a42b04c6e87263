-- FAILED transactions of the month by reason per report scope ('' = platform, else a
-- merchant; %(scope)s NULL = every scope).
SELECT dimension_value AS scope, failure_reason, failure_count, failure_share, affected_users
FROM marts.failures_monthly
WHERE bucket_start = %(month_start)s
    AND dimension IN ('platform', 'merchant')
    AND (%(scope)s::text IS NULL OR dimension_value = %(scope)s)
ORDER BY scope, failure_count DESC, failure_reason
