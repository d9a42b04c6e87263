-- Dismiss recommendation %(id)s of user %(user_id)s at %(now)s by key %(key_id)s, once:
-- when the user already dismissed this type within the cool-down, that dismissal is the
-- answer and nothing is written (dismissing twice is idempotent). No row when the id is
-- not one of this user's recommendations (the route answers 404). Two concurrent first
-- dismissals may both write; both hide the same (user, type), so that is harmless.
WITH target AS (
    SELECT id, user_id, type, day, model_name, model_version
    FROM recommendations.daily
    WHERE id = %(id)s AND user_id = %(user_id)s
),
earlier AS (
    SELECT d.recommendation_id, d.type, d.dismissed_at, false AS created
    FROM recommendations.dismissals d
    JOIN target t ON d.user_id = t.user_id AND d.type = t.type
    WHERE d.dismissed_at > %(now)s - make_interval(days => %(cooldown_days)s)
      AND d.dismissed_at <= %(now)s
    ORDER BY d.dismissed_at DESC
    LIMIT 1
),
written AS (
    INSERT INTO recommendations.dismissals (
        recommendation_id, user_id, type, recommendation_day, model_name, model_version,
        dismissed_at, key_id
    )
    SELECT t.id, t.user_id, t.type, t.day, t.model_name, t.model_version, %(now)s, %(key_id)s
    FROM target t
    WHERE NOT EXISTS (SELECT 1 FROM earlier)
    RETURNING recommendation_id, type, dismissed_at, true AS created
)
SELECT recommendation_id, type, dismissed_at, created FROM written
UNION ALL
SELECT recommendation_id, type, dismissed_at, created FROM earlier;
