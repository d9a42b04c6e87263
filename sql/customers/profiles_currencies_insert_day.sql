-- The per-currency versions of day %(day)s: previous totals plus the day's.
INSERT INTO marts.customer_profile_currencies (
    user_id, currency, valid_from, valid_to, inflow, outflow, inflow_count, outflow_count
)
SELECT
    d.user_id,
    d.currency,
    %(day)s,
    CASE WHEN p.user_id IS NOT NULL THEN p.valid_to ELSE (
        SELECT min(n.valid_from) FROM marts.customer_profile_currencies n
        WHERE n.user_id = d.user_id AND n.currency = d.currency AND n.valid_from > %(day)s
    ) END,
    coalesce(p.inflow, 0) + d.inflow,
    coalesce(p.outflow, 0) + d.outflow,
    coalesce(p.inflow_count, 0) + d.inflow_count,
    coalesce(p.outflow_count, 0) + d.outflow_count
FROM profile_day_currencies d
LEFT JOIN marts.customer_profile_currencies p
    ON p.user_id = d.user_id
    AND p.currency = d.currency
    AND p.valid_from < %(day)s
    AND (p.valid_to IS NULL OR p.valid_to > %(day)s)
