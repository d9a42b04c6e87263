-- The changed users' latest versions of the month before day %(day)s: each holds the month
-- to date, the previous month's compared days and the top merchants as of the day before
-- (a user's rows change only on days that write a version). A lateral lookup per user on
-- the primary key's (user_id, month) prefix, at the cost of the user's versions of the
-- month.
CREATE TEMP TABLE spending_before AS
SELECT b.*
FROM spending_users u
CROSS JOIN LATERAL (
    SELECT DISTINCT ON (s.currency, s.category)
        s.user_id, s.currency, s.category, s.spend, s.transactions, s.previous_spend,
        s.top_merchants
    FROM marts.customer_spending s
    WHERE s.user_id = u.user_id AND s.month = %(month)s AND s.valid_from < %(day)s
    ORDER BY s.currency, s.category, s.valid_from DESC
) b
