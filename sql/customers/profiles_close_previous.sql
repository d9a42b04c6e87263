-- The changed users' versions valid before day %(day)s now end there.
UPDATE marts.customer_profiles p
SET valid_to = %(day)s
FROM profile_day d
WHERE p.user_id = d.user_id AND p.valid_from < %(day)s AND (p.valid_to IS NULL OR p.valid_to > %(day)s)
