-- Spending rows as of day %(day)s (the latest version of each user, month, currency and
-- category on or before it) of months [from_month, %(day)s]; one user or everyone. The
-- month's share is computed here, against the all-categories row as of the same day: a
-- day writes only the categories it changed, so a stored share would go stale.
SELECT v.*,
    round(v.spend / nullif(
        max(v.spend) FILTER (WHERE v.category = '') OVER (PARTITION BY v.user_id, v.month, v.currency),
        0
    ), 6) AS month_share
FROM (
    SELECT DISTINCT ON (s.user_id, s.month, s.currency, s.category)
        s.user_id, s.month, s.currency, s.category, s.valid_from, s.spend, s.transactions,
        s.previous_spend, s.change_amount, s.change_percent, s.top_merchants
    FROM marts.customer_spending s
    WHERE s.valid_from <= %(day)s AND s.month >= %(from_month)s
        AND (%(user_id)s::text IS NULL OR s.user_id = %(user_id)s)
    ORDER BY s.user_id, s.month, s.currency, s.category, s.valid_from DESC
) AS v
ORDER BY v.user_id, v.month, v.currency, v.category
