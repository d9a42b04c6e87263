-- Checks of the spending of day %(day)s, over the users, months and currencies it wrote
-- and their rows as of the day (a day writes only the categories it changed): the
-- categories add up to the all-categories row, and the month's shares lie in [0, 1].
WITH written AS (
    SELECT user_id, month, currency
    FROM marts.customer_spending
    WHERE valid_from = %(day)s AND category = ''
),
as_of AS (
    SELECT DISTINCT ON (s.user_id, s.month, s.currency, s.category)
        s.user_id, s.month, s.currency, s.category, s.spend
    FROM marts.customer_spending s
    JOIN written w ON w.user_id = s.user_id AND w.month = s.month AND w.currency = s.currency
    WHERE s.valid_from <= %(day)s
    ORDER BY s.user_id, s.month, s.currency, s.category, s.valid_from DESC
),
totals AS (
    SELECT user_id, month, currency,
        sum(spend) FILTER (WHERE category <> '') AS categories,
        sum(spend) FILTER (WHERE category = '') AS total,
        count(*) FILTER (WHERE category = '') AS total_rows,
        count(*) FILTER (
            WHERE round(spend / nullif(total_spend, 0), 6) NOT BETWEEN 0 AND 1
        ) AS shares_out_of_range
    FROM (
        SELECT *, max(spend) FILTER (WHERE category = '') OVER (
            PARTITION BY user_id, month, currency
        ) AS total_spend
        FROM as_of
    ) AS a
    GROUP BY user_id, month, currency
)
SELECT
    (SELECT count(*) FROM marts.customer_spending WHERE valid_from = %(day)s) AS rows,
    (
        SELECT count(*) FROM totals
        WHERE categories IS DISTINCT FROM total OR total_rows <> 1
    ) AS users_whose_categories_do_not_add_up,
    (SELECT coalesce(sum(shares_out_of_range), 0) FROM totals) AS shares_out_of_range
