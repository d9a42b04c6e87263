-- For each feature row of the days in [%(first_day)s, %(last_day)s]: whether the user made
-- no successful transaction in the %(horizon_days)s days after the end of the day in %(tz)s.
-- Only meaningful for days whose horizon ended before the data does (the caller's job).
-- Set-based (raw.transactions has no per-user index): the users' active local days in
-- the span, then an anti-join per feature row.
WITH active AS (
    SELECT user_id, (occurred_at AT TIME ZONE %(tz)s)::date AS local_day
    FROM raw.transactions
    WHERE status = 'SUCCESS'
      AND occurred_at >= ((%(first_day)s::date + 1)::timestamp AT TIME ZONE %(tz)s)
      AND occurred_at < ((%(last_day)s::date + 1 + %(horizon_days)s)::timestamp AT TIME ZONE %(tz)s)
    GROUP BY 1, 2
)
SELECT f.day, f.user_id,
       NOT EXISTS (
           SELECT 1 FROM active a
           WHERE a.user_id = f.user_id
             AND a.local_day > f.day AND a.local_day <= f.day + %(horizon_days)s
       ) AS quiet
FROM ml.user_features f
WHERE f.day BETWEEN %(first_day)s AND %(last_day)s
ORDER BY f.day, f.user_id;
