UPDATE marts.customer_profile_currencies p
SET valid_to = %(day)s
FROM profile_day_currencies d
WHERE p.user_id = d.user_id AND p.currency = d.currency
    AND p.valid_from < %(day)s AND (p.valid_to IS NULL OR p.valid_to > %(day)s)
