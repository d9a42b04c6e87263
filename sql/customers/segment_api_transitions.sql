-- A day's moves between segments (users who stayed are left out), most users first.
SELECT since, base_day, from_segment, to_segment, users
FROM customers.segment_transitions
WHERE day = %(day)s AND from_segment <> to_segment
ORDER BY since DESC, users DESC, from_segment, to_segment
