COPY recommendations.daily (
    id, day, user_id, type, title, description, action_url, priority, score, reason,
    model_name, model_version, created_at, expires_at
) FROM STDIN
