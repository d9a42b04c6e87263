-- One page of a day's scores in user order, after the cursor's user, with the filters.
SELECT user_id, currency, recency_days, frequency, monetary, last_purchase_day,
    r_score, f_score, m_score, segment
FROM customers.rfm_scores
WHERE day = %(day)s
    AND user_id > %(after)s
    AND (%(segment)s::text IS NULL OR segment = %(segment)s::text)
    AND (%(currency)s::text IS NULL OR currency = %(currency)s::text)
    AND r_score BETWEEN %(min_r)s AND %(max_r)s
    AND f_score BETWEEN %(min_f)s AND %(max_f)s
    AND m_score BETWEEN %(min_m)s AND %(max_m)s
ORDER BY user_id
LIMIT %(limit)s
