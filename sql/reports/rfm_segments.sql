-- Users per RFM segment as of the newest scored day at or before the month's last day
-- (customers/rfm_scores): the day is returned with the counts.
WITH as_of AS (
    SELECT max(day) AS day FROM customers.rfm_score_days WHERE day <= %(last_day)s
)
SELECT as_of.day, s.segment, count(*)::bigint AS users
FROM as_of
JOIN customers.rfm_scores s ON s.day = as_of.day
GROUP BY as_of.day, s.segment
ORDER BY users DESC, s.segment
