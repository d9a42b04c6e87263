-- The scored day an API request reads: the one asked for if it has scores, else the
-- newest one (NULL: none yet), with its look-back.
SELECT day, lookback_days, users, computed_at
FROM customers.rfm_score_days
WHERE %(day)s::date IS NULL OR day = %(day)s::date
ORDER BY day DESC
LIMIT 1
