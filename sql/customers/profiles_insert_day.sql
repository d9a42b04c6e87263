-- The versions of day %(day)s: each changed user's version valid on the day before,
-- merged with the day's changes. A version ends where the user's next one starts (when
-- an old day is re-run), else stays open. main_currency is set afterwards, from the
-- currency totals.
INSERT INTO marts.customer_profiles (
    user_id, valid_from, valid_to, first_seen_at, last_activity_at, registered_at, country,
    kyc_status, kyc_event_at, kyc_level, kyc_level_at, first_success_at, last_success_at,
    success_count
)
SELECT
    d.user_id,
    %(day)s,
    CASE WHEN p.user_id IS NOT NULL THEN p.valid_to ELSE (
        SELECT min(n.valid_from) FROM marts.customer_profiles n
        WHERE n.user_id = d.user_id AND n.valid_from > %(day)s
    ) END,
    least(p.first_seen_at, d.first_at),
    greatest(p.last_activity_at, d.last_at),
    CASE WHEN p.registered_at IS NOT NULL THEN p.registered_at ELSE d.registered_at END,
    CASE WHEN p.registered_at IS NOT NULL THEN p.country ELSE d.country END,
    CASE WHEN d.kyc_event_at IS NOT NULL THEN d.kyc_status ELSE coalesce(p.kyc_status, 'none') END,
    coalesce(d.kyc_event_at, p.kyc_event_at),
    CASE WHEN d.kyc_level_at IS NOT NULL THEN d.kyc_level ELSE p.kyc_level END,
    coalesce(d.kyc_level_at, p.kyc_level_at),
    least(p.first_success_at, d.first_success_at),
    greatest(p.last_success_at, d.last_success_at),
    coalesce(p.success_count, 0) + d.success_count
FROM profile_day d
LEFT JOIN marts.customer_profiles p
    ON p.user_id = d.user_id
    AND p.valid_from < %(day)s
    AND (p.valid_to IS NULL OR p.valid_to > %(day)s)
