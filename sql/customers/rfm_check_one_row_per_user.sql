-- Days of [first_day, last_day] with a user scored more than once (or no record of the run).
SELECT d::date AS day,
    coalesce((SELECT count(*) - count(DISTINCT user_id) FROM customers.rfm_scores s
        WHERE s.day = d::date), 0) AS duplicates,
    EXISTS (SELECT 1 FROM customers.rfm_score_days r WHERE r.day = d::date) AS recorded
FROM generate_series(%(first_day)s::date, %(last_day)s::date, interval '1 day') AS d
