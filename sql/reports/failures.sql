-- FAILED transactions of the month by reason, of the platform or one merchant.
SELECT failure_reason, failure_count, failure_share, affected_users
FROM marts.failures_monthly
WHERE bucket_start = %(month_start)s
    AND dimension = CASE WHEN %(merchant)s = '' THEN 'platform' ELSE 'merchant' END
    AND dimension_value = %(merchant)s
ORDER BY failure_count DESC, failure_reason
