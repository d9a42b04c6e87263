-- Cohort cells of one grain as of day %(day)s: the latest version of every cell on or
-- before it, cohorts starting in [from_day, %(day)s].
SELECT DISTINCT ON (c.cohort_start, c.period, c.currency)
    c.cohort_grain, c.cohort_start, c.period, c.currency, c.valid_from, c.cohort_size,
    c.active_users, c.paying_users, c.revenue, c.retention_rate
FROM marts.customer_cohorts c
WHERE c.cohort_grain = %(grain)s AND c.valid_from <= %(day)s AND c.cohort_start >= %(from_day)s
ORDER BY c.cohort_start, c.period, c.currency, c.valid_from DESC
