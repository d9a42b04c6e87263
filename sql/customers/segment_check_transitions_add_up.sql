-- (day, since) pairs of [first_day, last_day] whose rows do not add up: to the users of
-- the day (rows into a segment), of the base day (rows out of one), and of both days.
SELECT t.day, t.since, t.total, t.into_segment, t.out_of_segment,
    (SELECT count(*) FROM customers.rfm_scores s WHERE s.day = t.day) AS day_users,
    (SELECT count(*) FROM customers.rfm_scores s WHERE s.day = t.base_day) AS base_users,
    (SELECT count(*) FROM (
        SELECT user_id FROM customers.rfm_scores s WHERE s.day = t.day
        UNION SELECT user_id FROM customers.rfm_scores s WHERE s.day = t.base_day) AS u
    ) AS both_days_users
FROM (
    SELECT day, since, base_day, sum(users) AS total,
        coalesce(sum(users) FILTER (WHERE to_segment <> '(none)'), 0) AS into_segment,
        coalesce(sum(users) FILTER (WHERE from_segment <> '(none)'), 0) AS out_of_segment
    FROM customers.segment_transitions
    WHERE day BETWEEN %(first_day)s AND %(last_day)s
    GROUP BY day, since, base_day
) AS t
