-- User lifecycle rollup of one grain over [window_start, window_end): registrations and
-- KYC outcomes per bucket and country on the event (country '' = all; events without a
-- country count only there). Time to verify runs from the user's latest kyc_submitted at
-- or before the verification and at most %(lookback)s earlier, which may lie before the
-- window (looked up in raw, newest first); verifications without such a submission are
-- left out of the median. The automation knows about the lookback: a late submission
-- makes the buckets of the following %(lookback)s stale.
-- Rendered per grain: {table} is the mart, {grain} the date_trunc unit.
WITH source AS (
    SELECT
        date_trunc({grain}, e.occurred_at, %(tz)s) AS bucket_start,
        e.country COLLATE "C" AS country,
        e.event_type,
        CASE WHEN e.event_type = 'user.kyc_verified' THEN
            extract(epoch FROM e.occurred_at - (
                SELECT s.occurred_at
                FROM raw.user_events s
                WHERE s.user_id = e.user_id
                    AND s.event_type = 'user.kyc_submitted'
                    AND s.occurred_at <= e.occurred_at
                    AND s.occurred_at >= e.occurred_at - %(lookback)s::interval
                ORDER BY s.occurred_at DESC
                LIMIT 1
            ))::double precision
        END AS seconds_to_verify
    FROM raw.user_events e
    WHERE e.occurred_at >= %(window_start)s AND e.occurred_at < %(window_end)s
),
grouped AS (
    SELECT
        bucket_start,
        coalesce(country, '') AS country,
        count(*) FILTER (WHERE event_type = 'user.registered') AS registrations,
        count(*) FILTER (WHERE event_type = 'user.kyc_submitted') AS kyc_submitted,
        count(*) FILTER (WHERE event_type = 'user.kyc_verified') AS kyc_verified,
        count(*) FILTER (WHERE event_type = 'user.kyc_rejected') AS kyc_rejected,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds_to_verify) AS median_seconds_to_verify
    FROM source
    GROUP BY GROUPING SETS ((bucket_start), (bucket_start, country))
    HAVING GROUPING(country) = 1 OR country IS NOT NULL
)
INSERT INTO {table} (
    bucket_start, country, registrations, kyc_submitted, kyc_verified, kyc_rejected,
    verification_rate, median_seconds_to_verify
)
SELECT
    bucket_start, country, registrations, kyc_submitted, kyc_verified, kyc_rejected,
    kyc_verified::numeric / nullif(kyc_verified + kyc_rejected, 0),
    median_seconds_to_verify
FROM grouped
