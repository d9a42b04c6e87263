-- Every user's lifetime totals per currency as of day %(day)s.
SELECT c.user_id, c.currency, c.inflow, c.outflow, c.inflow_count, c.outflow_count
FROM marts.customer_profile_currencies c
WHERE c.valid_from <= %(day)s AND (c.valid_to IS NULL OR c.valid_to > %(day)s)
    AND (%(user_id)s::text IS NULL OR c.user_id = %(user_id)s)
ORDER BY c.user_id, c.currency
