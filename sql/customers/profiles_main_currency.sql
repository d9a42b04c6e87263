-- A changed user's main currency as of day %(day)s: the one with the most successful
-- transactions so far (ties: the first currency code).
UPDATE marts.customer_profiles p
SET main_currency = m.currency
FROM (
    SELECT DISTINCT ON (c.user_id) c.user_id, c.currency
    FROM marts.customer_profile_currencies c
    JOIN profile_day d ON d.user_id = c.user_id
    WHERE c.valid_from <= %(day)s AND (c.valid_to IS NULL OR c.valid_to > %(day)s)
    ORDER BY c.user_id, c.inflow_count + c.outflow_count DESC, c.currency
) AS m
WHERE p.user_id = m.user_id AND p.valid_from = %(day)s
