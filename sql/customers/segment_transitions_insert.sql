-- customers/segment_transitions of `day` against one base day: users per (segment on the
-- base day, segment on `day`), '(none)' for a user scored on only one of the two days.
-- The rows add up to the users scored on either day.
INSERT INTO customers.segment_transitions (day, since, base_day, from_segment, to_segment, users)
SELECT %(day)s, %(since)s, %(base_day)s, coalesce(b.segment, '(none)'),
    coalesce(d.segment, '(none)'), count(*)
FROM (SELECT user_id, segment FROM customers.rfm_scores WHERE day = %(base_day)s) AS b
FULL JOIN (SELECT user_id, segment FROM customers.rfm_scores WHERE day = %(day)s) AS d
    USING (user_id)
GROUP BY 4, 5
