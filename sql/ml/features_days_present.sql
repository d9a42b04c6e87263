-- The days in [%(first_day)s, %(last_day)s] that have feature rows.
SELECT DISTINCT day FROM ml.user_features
WHERE day BETWEEN %(first_day)s AND %(last_day)s
ORDER BY day;
