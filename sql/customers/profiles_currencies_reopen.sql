-- As profiles_reopen.sql, for the per-currency totals.
UPDATE marts.customer_profile_currencies p
SET valid_to = d.valid_to
FROM marts.customer_profile_currencies d
WHERE d.valid_from = %(day)s
    AND p.user_id = d.user_id AND p.currency = d.currency AND p.valid_to = %(day)s
