-- Every user's profile as of day %(day)s (the version valid on it), with the account age
-- in days (from the local day of registration) and the per-currency totals as JSON.
SELECT p.user_id, p.first_seen_at, p.last_activity_at, p.registered_at, p.country,
    p.kyc_status, p.kyc_level, p.first_success_at, p.last_success_at, p.success_count,
    p.main_currency,
    %(day)s::date - (p.registered_at AT TIME ZONE %(tz)s)::date AS account_age_days
FROM marts.customer_profiles p
WHERE p.valid_from <= %(day)s AND (p.valid_to IS NULL OR p.valid_to > %(day)s)
    AND (%(user_id)s::text IS NULL OR p.user_id = %(user_id)s)
ORDER BY p.user_id
