-- Negative feedback as of the end of day %(day)s in %(tz)s: per user and recommendation
-- type, the dismissals (recommendations.dismissals, written by the API) in the
-- %(window_days)s days before that instant. Nothing at or after it, like the features.
WITH bounds AS (
    SELECT ((%(day)s::date + 1)::timestamp AT TIME ZONE %(tz)s) AS as_of
)
SELECT d.user_id, d.type, count(*) AS dismissals
FROM recommendations.dismissals d, bounds b
WHERE d.dismissed_at >= b.as_of - make_interval(days => %(window_days)s)
  AND d.dismissed_at < b.as_of
GROUP BY d.user_id, d.type
ORDER BY d.user_id, d.type;
