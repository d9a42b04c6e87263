-- One user's profile as of day %(day)s (no row: no version yet), with the account age in
-- days from the local day of registration.
SELECT p.first_seen_at, p.last_activity_at, p.registered_at, p.country, p.kyc_status,
    p.kyc_level, p.first_success_at, p.last_success_at, p.main_currency,
    %(day)s::date - (p.registered_at AT TIME ZONE %(tz)s)::date AS account_age_days
FROM marts.customer_profiles p
WHERE p.user_id = %(user_id)s AND p.valid_from <= %(day)s
    AND (p.valid_to IS NULL OR p.valid_to > %(day)s)
