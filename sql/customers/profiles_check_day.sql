-- Checks of the profile versions of day %(day)s: every user with an event in the day got
-- exactly one version (users_seen = versions), no changed user has two versions valid on
-- the day, and each changed user's success count equals the sum of their per-currency
-- counts.
WITH seen AS (
    SELECT user_id FROM raw.transactions
    WHERE occurred_at >= %(window_start)s AND occurred_at < %(window_end)s
    UNION
    SELECT user_id FROM raw.user_activity
    WHERE occurred_at >= %(window_start)s AND occurred_at < %(window_end)s
    UNION
    SELECT user_id FROM raw.user_events
    WHERE occurred_at >= %(window_start)s AND occurred_at < %(window_end)s
),
written AS (
    SELECT user_id, success_count FROM marts.customer_profiles WHERE valid_from = %(day)s
)
SELECT
    (SELECT count(*) FROM seen) AS users_seen,
    (SELECT count(*) FROM written) AS versions,
    (
        SELECT count(*) FROM written w
        WHERE (
            SELECT count(*) FROM marts.customer_profiles p
            WHERE p.user_id = w.user_id AND p.valid_from <= %(day)s
                AND (p.valid_to IS NULL OR p.valid_to > %(day)s)
        ) <> 1
    ) AS users_with_overlapping_versions,
    (
        SELECT count(*) FROM written w
        WHERE w.success_count <> coalesce((
            SELECT sum(c.inflow_count + c.outflow_count) FROM marts.customer_profile_currencies c
            WHERE c.user_id = w.user_id AND c.valid_from <= %(day)s
                AND (c.valid_to IS NULL OR c.valid_to > %(day)s)
        ), 0)
    ) AS users_with_mismatched_totals
