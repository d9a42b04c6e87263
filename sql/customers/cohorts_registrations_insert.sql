-- Every user.registered event of [registrations_from, window_end), as each user's first
-- of each local day.
INSERT INTO customers.cohort_registrations (user_id, day, registered_at)
SELECT user_id, (occurred_at AT TIME ZONE %(tz)s)::date, min(occurred_at)
FROM raw.user_events
WHERE event_type = 'user.registered'
    AND occurred_at >= %(registrations_from)s AND occurred_at < %(window_end)s
GROUP BY 1, 2
