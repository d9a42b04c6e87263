-- Rows of [first_day, last_day] with a score outside 1..5.
SELECT count(*)
FROM customers.rfm_scores
WHERE day BETWEEN %(first_day)s AND %(last_day)s
    AND (r_score NOT BETWEEN 1 AND 5 OR f_score NOT BETWEEN 1 AND 5 OR m_score NOT BETWEEN 1 AND 5)
