-- For each feature row of the days in [%(first_day)s, %(last_day)s]: whether the user made
-- no successful transaction in the %(horizon_days)s days after the end of the day in %(tz)s.
-- Only meaningful for days whose horizon ended before the data does (the caller's job).
-- Set-based (raw.transactions has no per-user index): the users' active local days in
-- the span, joined on equality with each of the horizon's days (a range condition in an
-- anti-join planned as a nested loop and took 7 s for 13k rows).
WITH active AS (
    SELECT user_id, (occurred_at AT TIME ZONE %(tz)s)::date AS local_day
    FROM raw.transactions
    WHERE status = 'SUCCESS'
      AND occurred_at >= ((%(first_day)s::date + 1)::timestamp AT TIME ZONE %(tz)s)
      AND occurred_at < ((%(last_day)s::date + 1 + %(horizon_days)s)::timestamp AT TIME ZONE %(tz)s)
    GROUP BY 1, 2
)
SELECT f.day, f.user_id, count(a.local_day) = 0 AS quiet
FROM ml.user_features f
CROSS JOIN generate_series(1, %(horizon_days)s) AS g(k)
LEFT JOIN active a ON a.user_id = f.user_id AND a.local_day = f.day + g.k
WHERE f.day BETWEEN %(first_day)s AND %(last_day)s
GROUP BY f.day, f.user_id
ORDER BY f.day, f.user_id;
