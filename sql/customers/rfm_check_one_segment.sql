-- Rows of [first_day, last_day] whose segment is not exactly one of the table's names
-- (or whose segment is not the one its scores map to).
SELECT count(*)
FROM customers.rfm_scores AS s
LEFT JOIN unnest(%(cell_r)s::smallint[], %(cell_f)s::smallint[], %(cell_m)s::smallint[],
    %(cell_segment)s::text[]) AS c(r_score, f_score, m_score, segment)
    USING (r_score, f_score, m_score)
WHERE s.day BETWEEN %(first_day)s AND %(last_day)s
    AND s.segment IS DISTINCT FROM coalesce(c.segment, 'Others')
