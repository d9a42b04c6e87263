-- A user's active recommendations at %(now)s: per type the newest row that has not
-- expired, unless the user dismissed that type within the cool-down (%(cooldown_days)s
-- days before now). The cool-down goes by (user, type), not by id: a re-run of a day
-- rewrites its rows with the same ids, and the next days' rows get new ones, and both
-- must stay hidden. Highest priority first (priority 5 is the most urgent), then score.
-- Row-level security limits both tables to the key's scope.
SELECT id, type, title, description, action_url, priority, score, reason, model_name,
    model_version, day, created_at, expires_at
FROM (
    SELECT DISTINCT ON (r.type) r.*
    FROM recommendations.daily r
    WHERE r.user_id = %(user_id)s
      AND r.expires_at > %(now)s
      AND r.created_at <= %(now)s
    ORDER BY r.type, r.day DESC, r.created_at DESC, r.id
) newest
WHERE NOT EXISTS (
    SELECT 1
    FROM recommendations.dismissals d
    WHERE d.user_id = %(user_id)s
      AND d.type = newest.type
      AND d.dismissed_at > %(now)s - make_interval(days => %(cooldown_days)s)
      AND d.dismissed_at <= %(now)s
)
ORDER BY priority DESC, score DESC, type;
