-- For each feature row of the days in [%(first_day)s, %(last_day)s] that are a multiple of
-- %(day_step)s days before %(last_day)s: whether the user made no successful transaction
-- in the %(horizon_days)s days after the end of the day in %(tz)s. Only meaningful for days
-- whose horizon ended before the data does (the caller's job).
-- Set-based (raw.transactions has no per-user index): the users' active local days in the
-- span and the feature rows, in one stream per user ordered by day; a row is quiet when
-- the count of active days in the window (day + 1, day + horizon] is 0 (a RANGE frame,
-- one pass of the sorted stream). The equality join with each of the horizon's days
-- before it gave the same rows for 4.6 times the backend CPU (it built horizon x rows
-- join rows: issue 14's training profile); a range anti-join planned as a nested loop
-- took 7 s for 13k rows.
WITH active AS (
    SELECT DISTINCT user_id, (occurred_at AT TIME ZONE %(tz)s)::date AS day
    FROM raw.transactions
    WHERE status = 'SUCCESS'
      AND occurred_at >= ((%(first_day)s::date + 1)::timestamp AT TIME ZONE %(tz)s)
      AND occurred_at < ((%(last_day)s::date + 1 + %(horizon_days)s)::timestamp AT TIME ZONE %(tz)s)
),
stream AS (
    SELECT day, user_id, 0 AS active
    FROM ml.user_features
    WHERE day BETWEEN %(first_day)s AND %(last_day)s
      AND (%(last_day)s::date - day) %% %(day_step)s = 0
    UNION ALL
    SELECT day, user_id, 1 FROM active
),
counted AS (
    SELECT day, user_id, active,
           sum(active) OVER (
               PARTITION BY user_id ORDER BY day
               RANGE BETWEEN '1 day'::interval FOLLOWING
                     AND make_interval(days => %(horizon_days)s) FOLLOWING
           ) AS active_after
    FROM stream
)
SELECT day, user_id, coalesce(active_after, 0) = 0 AS quiet
FROM counted
WHERE active = 0
ORDER BY day, user_id;
