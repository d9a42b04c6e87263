-- Checks of the spending versions of day %(day)s: per user, month and currency the
-- categories add up to the all-categories row, and shares lie in [0, 1].
WITH written AS (
    SELECT * FROM marts.customer_spending WHERE valid_from = %(day)s
)
SELECT
    (SELECT count(*) FROM written) AS rows,
    (
        SELECT count(*) FROM (
            SELECT user_id, currency
            FROM written
            GROUP BY user_id, currency
            HAVING sum(spend) FILTER (WHERE category <> '') IS DISTINCT FROM
                    sum(spend) FILTER (WHERE category = '')
                OR count(*) FILTER (WHERE category = '') <> 1
        ) AS wrong
    ) AS users_whose_categories_do_not_add_up,
    (SELECT count(*) FROM written WHERE month_share < 0 OR month_share > 1) AS shares_out_of_range
