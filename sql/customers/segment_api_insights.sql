-- Headline numbers of the given days: customers (a purchase in the look-back), active (a
-- purchase in the last 30 days), at risk (At Risk and Can't Lose Them), and new (scored
-- on the day but not 30 days before, from the transitions).
SELECT s.day, count(*)::integer AS customers,
    (count(*) FILTER (WHERE s.recency_days < 30))::integer AS active,
    (count(*) FILTER (WHERE s.segment IN ('At Risk', 'Can''t Lose Them')))::integer AS at_risk,
    (SELECT sum(t.users) FROM customers.segment_transitions AS t
        WHERE t.day = s.day AND t.since = '30_days_before' AND t.from_segment = '(none)'
    )::integer AS new
FROM customers.rfm_scores AS s
WHERE s.day = ANY(%(days)s::date[])
GROUP BY s.day
