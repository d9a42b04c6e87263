-- Registration and KYC rows of one country ('' = all) for the buckets starting in
-- [window_start, window_end). Rendered with {table}.
SELECT u.bucket_start, u.registrations, u.kyc_submitted, u.kyc_verified, u.kyc_rejected,
    u.median_seconds_to_verify
FROM {table} u
WHERE u.country = %(country)s
    AND u.bucket_start >= %(window_start)s AND u.bucket_start < %(window_end)s
ORDER BY u.bucket_start
