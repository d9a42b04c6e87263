-- Days of [first_day, last_day] whose per-segment counts do not add up to the users the
-- run recorded.
SELECT r.day, r.users, coalesce(sum(c.users), 0)::bigint AS in_segments
FROM customers.rfm_score_days AS r
LEFT JOIN (
    SELECT day, segment, count(*) AS users
    FROM customers.rfm_scores
    WHERE day BETWEEN %(first_day)s AND %(last_day)s
    GROUP BY day, segment
) AS c USING (day)
WHERE r.day BETWEEN %(first_day)s AND %(last_day)s
GROUP BY r.day, r.users
HAVING r.users <> coalesce(sum(c.users), 0)
