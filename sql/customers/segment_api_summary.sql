-- Per segment of a day: users and average scores and measures.
SELECT segment, count(*)::integer AS users,
    avg(r_score) AS avg_r, avg(f_score) AS avg_f, avg(m_score) AS avg_m,
    avg(recency_days) AS avg_recency_days, avg(frequency) AS avg_frequency
FROM customers.rfm_scores
WHERE day = %(day)s
GROUP BY segment
ORDER BY segment
