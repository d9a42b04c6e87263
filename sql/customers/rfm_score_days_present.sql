-- Which of the given days have scores.
SELECT day FROM customers.rfm_score_days WHERE day = ANY(%(days)s::date[])
