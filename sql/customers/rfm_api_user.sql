-- A user's scores on the newest scored day (no row: not a customer of the window).
SELECT s.day, s.currency, s.recency_days, s.frequency, s.monetary, s.last_purchase_day,
    s.r_score, s.f_score, s.m_score, s.segment
FROM customers.rfm_scores AS s
WHERE s.user_id = %(user_id)s
    AND s.day = (SELECT max(day) FROM customers.rfm_score_days)
