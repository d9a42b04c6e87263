-- Whether the windows of day %(day)s's features in %(tz)s are made of whole local days,
-- so that ml.user_day_stats can stand in for the raw rows (features_insert_day.sql).
-- features_insert_day_from_raw.sql cuts them from the end of the day: 7, 14 and 30 days
-- as exact seconds (age_days), sessions' 14 and the look-back's 90 days as intervals in
-- the session's time zone. In a zone without a DST change in the window (and in UTC
-- sessions) every edge is a local midnight; otherwise the caller reads the raw rows.
WITH days AS (
    SELECT %(day)s::date + i AS day,
           ((%(day)s::date + i)::timestamp AT TIME ZONE %(tz)s) AS day_start
    FROM generate_series(-89, 1) AS i
),
bounds AS (
    SELECT day_start AS as_of FROM days WHERE day = %(day)s::date + 1
),
edges AS (
    SELECT b.as_of - make_interval(secs => k * 86400) AS edge, %(day)s::date + 1 - k AS day
    FROM bounds b, unnest(ARRAY[7, 14, 30]) AS k
    UNION ALL
    SELECT b.as_of - make_interval(days => k), %(day)s::date + 1 - k
    FROM bounds b, unnest(ARRAY[14, 90]) AS k
)
SELECT
    -- Each day's bucket [day_start, next day_start) holds exactly the local date `day`.
    (SELECT bool_and((day_start AT TIME ZONE %(tz)s)::date = day
                     AND ((day_start - interval '1 microsecond') AT TIME ZONE %(tz)s)::date = day - 1)
     FROM days)
    AND (SELECT bool_and(e.edge = d.day_start) FROM edges e JOIN days d USING (day))
    AS aligned;
