-- customers/rfm_scores of `day` from its state (the partition was cleared just before).
--
-- Per user (from pg_temp.rfm_per_user, rfm_scores_per_user.sql): frequency = purchases in
-- the window in every currency; recency = days since the last purchase; monetary = the
-- amount in the user's main currency, scored only against users of the same main
-- currency (amounts in two currencies are not comparable without a rate).
--
-- Scores: breakpoints are the values at 20/40/60/80 percent of the sorted values
-- (percentile_disc: always a value some user has), and a score is 1 + the number of
-- breakpoints strictly below the user's value. Equal values therefore always get the
-- same score; when one value fills several quintiles the scores in between are skipped
-- (docs/customer-scores.md). Recency is scored on the last purchase day (later is
-- better), which is the same as negated recency.
--
-- The segment comes from the 125 score cells' map computed from the editable rule table
-- (customers/segments.py: first matching rule, else 'Others'), passed as one array in
-- (r, f, m) order and indexed by the scores (cheaper than a join per user).
WITH per_user AS NOT MATERIALIZED (SELECT * FROM pg_temp.rfm_per_user),
quantiles AS (
    SELECT ARRAY[0.2, 0.4, 0.6, 0.8]::float8[] AS at
),
rf AS (
    SELECT count(*)::integer AS users,
        percentile_disc((SELECT at FROM quantiles)) WITHIN GROUP (ORDER BY last_day) AS r_b,
        percentile_disc((SELECT at FROM quantiles)) WITHIN GROUP (ORDER BY frequency) AS f_b
    FROM per_user
),
m AS (
    SELECT currency, count(*)::integer AS users,
        percentile_disc((SELECT at FROM quantiles)) WITHIN GROUP (ORDER BY monetary) AS m_b
    FROM per_user
    GROUP BY currency
),
-- Executed whether or not the main query reads it (a data-modifying CTE always is).
saved AS (
    INSERT INTO customers.rfm_breakpoints (day, measure, currency, users, breakpoints)
    SELECT %(day)s, 'recency', '', users,
        ARRAY[%(day)s - r_b[1], %(day)s - r_b[2], %(day)s - r_b[3], %(day)s - r_b[4]]::numeric[]
    FROM rf WHERE users > 0
    UNION ALL
    SELECT %(day)s, 'frequency', '', users, f_b::numeric[] FROM rf WHERE users > 0
    UNION ALL
    SELECT %(day)s, 'monetary', currency, users, m_b FROM m
    RETURNING 1
),
-- Breakpoints as plain columns: subscripting an array per user and score is several
-- times slower than comparing with a column.
cuts AS MATERIALIZED (
    SELECT r_b[1] AS r1, r_b[2] AS r2, r_b[3] AS r3, r_b[4] AS r4,
        f_b[1] AS f1, f_b[2] AS f2, f_b[3] AS f3, f_b[4] AS f4
    FROM rf
),
m_cuts AS MATERIALIZED (
    SELECT currency, m_b[1] AS m1, m_b[2] AS m2, m_b[3] AS m3, m_b[4] AS m4 FROM m
),
scored AS (
    SELECT u.user_id, u.currency, %(day)s - u.last_day AS recency_days, u.frequency,
        u.monetary, u.last_day,
        (1 + (c.r1 < u.last_day)::int + (c.r2 < u.last_day)::int
            + (c.r3 < u.last_day)::int + (c.r4 < u.last_day)::int)::smallint AS r_score,
        (1 + (c.f1 < u.frequency)::int + (c.f2 < u.frequency)::int
            + (c.f3 < u.frequency)::int + (c.f4 < u.frequency)::int)::smallint AS f_score,
        (1 + (m.m1 < u.monetary)::int + (m.m2 < u.monetary)::int
            + (m.m3 < u.monetary)::int + (m.m4 < u.monetary)::int)::smallint AS m_score
    FROM per_user AS u
    CROSS JOIN cuts AS c
    JOIN m_cuts AS m ON m.currency = u.currency
)
INSERT INTO customers.rfm_scores (
    day, user_id, currency, recency_days, frequency, monetary, last_purchase_day,
    r_score, f_score, m_score, segment
)
SELECT %(day)s, s.user_id, s.currency, s.recency_days, s.frequency, s.monetary, s.last_day,
    s.r_score, s.f_score, s.m_score,
    (%(cell_segments)s::text[])[(s.r_score - 1) * 25 + (s.f_score - 1) * 5 + s.m_score]
FROM scored AS s
