-- BUDGET_ALERT's feature rows of one cut day (budget_features.sql's, exactly) read from
-- ml.budget_day_spend: the local days from %(history_start)s (the first of the
-- history months) to the cut day %(day)s, day %(days_elapsed)s of the month starting
-- %(month_start)s (of %(days_in_month)s days), the month before starting
-- %(last_month_start)s. Numeric sums are exact, so the daily rows add up to what the
-- raw rows give; each figure is cast to float8 as the client did with the numeric.
-- One hash aggregate per (user, category, currency) over the narrow daily rows: the
-- history months with spending are the set bits of a bitmap (bit i: month i of the
-- history, %(history_months)s <= 63 of them), where count(DISTINCT month) sorted every
-- row and a per-month aggregate took a second pass.
WITH per_key AS (
    SELECT d.user_id, d.category, d.currency,
           bit_or(1::bigint << (
               (date_part('year', d.day) * 12 + date_part('month', d.day))::int
               - (date_part('year', %(history_start)s::date) * 12
                  + date_part('month', %(history_start)s::date))::int
           )) FILTER (WHERE d.day < %(month_start)s::date) AS history_month_bits,
           sum(d.spent) FILTER (WHERE d.day < %(month_start)s::date) AS history_spent,
           sum(d.tx) FILTER (WHERE d.day < %(month_start)s::date) AS history_tx,
           sum(d.spent) FILTER (
               WHERE d.day < %(month_start)s::date
                 AND date_part('day', d.day) <= %(days_elapsed)s::int
           ) AS history_by_day,
           sum(d.spent) FILTER (
               WHERE d.day >= %(last_month_start)s::date AND d.day < %(month_start)s::date
           ) AS last_month,
           sum(d.spent) FILTER (WHERE d.day >= %(month_start)s::date) AS spent_so_far,
           sum(d.tx) FILTER (WHERE d.day >= %(month_start)s::date) AS tx_so_far
    FROM ml.budget_day_spend d
    WHERE d.day >= %(history_start)s::date AND d.day <= %(day)s::date
    GROUP BY d.user_id, d.category, d.currency
),
habits AS (
    SELECT p.*, bit_count(p.history_month_bits::bit(64))::int AS habit_months
    FROM per_key p
    WHERE p.history_month_bits IS NOT NULL
)
SELECT user_id, category, currency,
       %(days_elapsed)s::int AS days_elapsed,
       %(days_in_month)s::int AS days_in_month,
       coalesce(spent_so_far, 0)::float8 AS spent_so_far,
       coalesce(tx_so_far, 0)::int AS tx_so_far,
       (history_spent / %(history_months)s::int)::float8 AS usual,
       history_tx::float8 / %(history_months)s::int AS usual_tx,
       (coalesce(history_by_day, 0) / %(history_months)s::int)::float8 AS usual_by_day,
       coalesce(last_month, 0)::float8 AS last_month,
       habit_months
FROM habits
WHERE habit_months >= %(min_habit_months)s::int
ORDER BY user_id, category, currency;
