-- Registrations and KYC of the month and the previous one, all countries.
SELECT bucket_start, registrations, kyc_submitted, kyc_verified, kyc_rejected,
    verification_rate
FROM marts.user_lifecycle_monthly
WHERE bucket_start IN (%(month_start)s, %(previous_start)s) AND country = ''
ORDER BY bucket_start
