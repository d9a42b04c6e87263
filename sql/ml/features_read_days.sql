-- The feature rows of the days in [%(first_day)s, %(last_day)s] that are a multiple of
-- %(day_step)s days before %(last_day)s (1: every day), in a stable order.
SELECT day, user_id, recency_days, first_seen_days, tx_7d, tx_prev_7d, tx_30d,
       active_days_30d, failed_7d, failed_30d, merchants_30d, sessions_14d
FROM ml.user_features
WHERE day BETWEEN %(first_day)s AND %(last_day)s
  AND (%(last_day)s::date - day) %% %(day_step)s = 0
ORDER BY day, user_id;
