INSERT INTO recommendations.daily (
    id, day, user_id, type, title, description, action_url, priority, score, reason,
    model_name, model_version, created_at, expires_at
) VALUES (
    %(id)s, %(day)s, %(user_id)s, %(type)s, %(title)s, %(description)s, %(action_url)s,
    %(priority)s, %(score)s, %(reason)s::jsonb, %(model_name)s, %(model_version)s,
    %(created_at)s, %(expires_at)s
);
