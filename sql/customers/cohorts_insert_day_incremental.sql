-- The cohort cells of day %(day)s from those of the day before (%(previous_day)s) and the
-- day's own user days: the same rows as cohorts_insert_day.sql (the full computation, kept
-- as the reference and for a day whose previous day has no carried state) at the cost of
-- the day's users instead of the period's events and every registration.
--
-- A cell only grows within its period: a cohort's size by the users whose first
-- registration is on the day (a "joined" user); active and paying users by the users
-- who are so for the first time in the period; revenue by the day's revenue. A joined
-- user was in no cohort the day before, so everything they did in the period so far
-- counts on the day. The day a period starts (Monday, the 1st) carries sizes only.
INSERT INTO marts.customer_cohorts (
    cohort_grain, cohort_start, period, currency, valid_from, cohort_size, active_users,
    paying_users, revenue, retention_rate
)
WITH grains AS (
    SELECT 'week'::text AS grain, %(week_day)s::date AS period_day
    UNION ALL
    SELECT 'month', %(month_day)s::date
),
-- Every user with an event on the day that belongs to a cohort as of the day (a joined
-- user has one: their registration).
-- (Lateral lookups on the primary keys, here and below: a join would read every
-- registration and every user day so far.)
members AS (
    SELECT t.user_id, r.registered_at, r.first_day = %(day)s AS joined
    FROM customers.cohort_user_days t
    CROSS JOIN LATERAL (
        SELECT min(x.registered_at) AS registered_at, min(x.day) AS first_day
        FROM customers.cohort_registrations x
        WHERE x.user_id = t.user_id AND x.day <= %(day)s
    ) r
    WHERE t.day = %(day)s AND t.currency = '' AND r.registered_at IS NOT NULL
),
member_grains AS (
    SELECT m.user_id, m.joined, g.grain, g.period_day,
        (date_trunc(g.grain, m.registered_at, %(tz)s) AT TIME ZONE %(tz)s)::date AS cohort_start
    FROM members m
    CROSS JOIN grains g
),
newly_active AS (
    SELECT mg.grain, mg.cohort_start, count(*) AS users
    FROM member_grains mg
    WHERE mg.joined OR NOT EXISTS (
        SELECT 1 FROM customers.cohort_user_days e
        WHERE e.user_id = mg.user_id AND e.currency = ''
            AND e.day >= mg.period_day AND e.day < %(day)s
    )
    GROUP BY 1, 2
),
-- Per member, grain and currency: the revenue the day adds (a joined user's: the period
-- so far) and whether the member pays in that currency for the first time in the period.
spent AS (
    SELECT mg.grain, mg.cohort_start, mg.user_id, mg.joined, mg.period_day, d.currency,
        sum(d.revenue) AS revenue,
        mg.joined OR NOT EXISTS (
            SELECT 1 FROM customers.cohort_user_days e
            WHERE e.user_id = mg.user_id AND e.currency = d.currency
                AND e.day >= mg.period_day AND e.day < %(day)s
        ) AS new_payer
    FROM member_grains mg
    CROSS JOIN LATERAL (
        SELECT x.currency, x.revenue
        FROM customers.cohort_user_days x
        WHERE mg.joined AND x.user_id = mg.user_id AND x.currency <> ''
            AND x.day >= mg.period_day AND x.day <= %(day)s
        OFFSET 0 -- keeps the lookup lateral (not flattened into a join of every user day)
    ) d
    GROUP BY mg.grain, mg.cohort_start, mg.user_id, mg.joined, mg.period_day, d.currency
    UNION ALL
    -- Any other member adds the day's revenue (a join with the day's rows).
    SELECT mg.grain, mg.cohort_start, mg.user_id, mg.joined, mg.period_day, d.currency,
        d.revenue,
        NOT EXISTS (
            SELECT 1 FROM customers.cohort_user_days e
            WHERE e.user_id = mg.user_id AND e.currency = d.currency
                AND e.day >= mg.period_day AND e.day < %(day)s
        )
    FROM member_grains mg
    JOIN customers.cohort_user_days d ON d.user_id = mg.user_id AND d.day = %(day)s
        AND d.currency <> ''
    WHERE NOT mg.joined
),
-- Payers in any currency (the currency '' cells) for the first time in the period.
new_any_payers AS (
    SELECT p.grain, p.cohort_start, count(*) AS users
    FROM (SELECT DISTINCT grain, cohort_start, user_id, joined, period_day FROM spent) p
    WHERE p.joined OR NOT EXISTS (
        SELECT 1 FROM customers.cohort_user_days e
        WHERE e.user_id = p.user_id AND e.currency <> ''
            AND e.day >= p.period_day AND e.day < %(day)s
    )
    GROUP BY 1, 2
),
previous AS (
    SELECT c.cohort_grain AS grain, c.cohort_start, c.currency, c.cohort_size, c.active_users,
        c.paying_users, c.revenue
    FROM marts.customer_cohorts c
    WHERE c.valid_from = %(previous_day)s
),
-- What the previous day's cells carry into the day's: their period's counts unless the
-- day starts a new period.
carried AS (
    SELECT p.*
    FROM previous p
    JOIN grains g ON g.grain = p.grain
    WHERE g.period_day < %(day)s
),
sizes AS (
    SELECT grain, cohort_start, sum(users) AS cohort_size
    FROM (
        SELECT grain, cohort_start, cohort_size AS users FROM previous WHERE currency = ''
        UNION ALL
        SELECT grain, cohort_start, count(*) FROM member_grains WHERE joined GROUP BY 1, 2
    ) s
    GROUP BY 1, 2
),
actives AS (
    SELECT grain, cohort_start, sum(users) AS active_users
    FROM (
        SELECT grain, cohort_start, active_users AS users FROM carried WHERE currency = ''
        UNION ALL
        SELECT grain, cohort_start, users FROM newly_active
    ) a
    GROUP BY 1, 2
),
paying AS (
    SELECT grain, cohort_start, currency, sum(users) AS paying_users, sum(revenue) AS revenue
    FROM (
        SELECT grain, cohort_start, currency, paying_users AS users, revenue
        FROM carried
        WHERE paying_users > 0
        UNION ALL
        SELECT grain, cohort_start, currency, count(*) FILTER (WHERE new_payer), sum(revenue)
        FROM spent
        GROUP BY 1, 2, 3
        UNION ALL
        SELECT grain, cohort_start, '', users, NULL FROM new_any_payers
    ) p
    GROUP BY 1, 2, 3
    HAVING sum(users) > 0
),
cells AS (
    SELECT s.grain, s.cohort_start, g.period_day, s.cohort_size,
        coalesce(a.active_users, 0) AS active_users
    FROM sizes s
    JOIN grains g ON g.grain = s.grain
    LEFT JOIN actives a ON a.grain = s.grain AND a.cohort_start = s.cohort_start
    WHERE s.cohort_start <= g.period_day
)
SELECT c.grain, c.cohort_start,
    CASE c.grain
        WHEN 'week' THEN (c.period_day - c.cohort_start) / 7
        ELSE (extract(year FROM c.period_day)::int - extract(year FROM c.cohort_start)::int) * 12
            + extract(month FROM c.period_day)::int - extract(month FROM c.cohort_start)::int
    END,
    coalesce(pay.currency, ''),
    %(day)s,
    c.cohort_size,
    c.active_users,
    coalesce(pay.paying_users, 0),
    CASE WHEN pay.currency <> '' THEN pay.revenue END,
    round(c.active_users::numeric / c.cohort_size, 6)
FROM cells c
LEFT JOIN paying pay ON pay.grain = c.grain AND pay.cohort_start = c.cohort_start
