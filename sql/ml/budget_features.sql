-- BUDGET_ALERT features: per cut day C in %(cuts)s (C is the last day included, in %(tz)s)
-- and (user, category, currency) with spending in at least %(min_habit_months)s of the
-- %(history_months)s complete months before C's month. Spending: successful PAYMENT and
-- BILL_PAYMENT amounts, never summed across currencies. Reads only events before the end
-- of C: the month's outcome is in budget_outcomes.sql.
WITH cuts AS (
    SELECT cut_day,
           date_trunc('month', cut_day)::date AS month_start,
           extract(day FROM cut_day)::int AS days_elapsed,
           extract(day FROM date_trunc('month', cut_day) + interval '1 month - 1 day')::int
               AS days_in_month
    FROM unnest(%(cuts)s::date[]) AS u(cut_day)
),
daily AS (
    SELECT t.user_id, t.category, t.currency,
           (t.occurred_at AT TIME ZONE %(tz)s)::date AS local_day,
           sum(t.amount) AS spent,
           count(*) AS tx
    FROM raw.transactions t
    WHERE t.status = 'SUCCESS'
      AND t.transaction_type IN ('PAYMENT', 'BILL_PAYMENT')
      AND t.category IS NOT NULL
      AND t.occurred_at >= (
          (SELECT min(month_start) FROM cuts) - make_interval(months => %(history_months)s)
      )::timestamp AT TIME ZONE %(tz)s
      AND t.occurred_at < ((SELECT max(cut_day) FROM cuts) + 1)::timestamp AT TIME ZONE %(tz)s
    GROUP BY 1, 2, 3, 4
),
-- One pass over (cut, key): the history months and the month so far are FILTERs of the
-- same rows (a join of two per-key aggregates was planned as a nested loop, quadratic).
per_key AS (
    SELECT c.cut_day, c.days_elapsed, c.days_in_month, d.user_id, d.category, d.currency,
           count(DISTINCT date_trunc('month', d.local_day))
               FILTER (WHERE d.local_day < c.month_start) AS habit_months,
           coalesce(sum(d.spent) FILTER (WHERE d.local_day < c.month_start), 0)
               / %(history_months)s AS usual,
           coalesce(sum(d.tx) FILTER (WHERE d.local_day < c.month_start), 0)::float8
               / %(history_months)s AS usual_tx,
           coalesce(sum(d.spent) FILTER (
               WHERE d.local_day < c.month_start
                 AND extract(day FROM d.local_day) <= c.days_elapsed
           ), 0) / %(history_months)s AS usual_by_day,
           coalesce(sum(d.spent) FILTER (
               WHERE d.local_day >= c.month_start - interval '1 month'
                 AND d.local_day < c.month_start
           ), 0) AS last_month,
           coalesce(sum(d.spent) FILTER (WHERE d.local_day >= c.month_start), 0) AS spent_so_far,
           coalesce(sum(d.tx) FILTER (WHERE d.local_day >= c.month_start), 0) AS tx_so_far
    FROM cuts c
    JOIN daily d
      ON d.local_day >= c.month_start - make_interval(months => %(history_months)s)
     AND d.local_day <= c.cut_day
    GROUP BY c.cut_day, c.days_elapsed, c.days_in_month, d.user_id, d.category, d.currency
)
-- The numeric figures as float8: PostgreSQL's cast rounds correctly, as the client's
-- float(Decimal) did (the same values; decoding numerics was most of the client's CPU).
SELECT cut_day, user_id, category, currency, days_elapsed, days_in_month,
       spent_so_far::float8 AS spent_so_far, tx_so_far, usual::float8 AS usual, usual_tx,
       usual_by_day::float8 AS usual_by_day, last_month::float8 AS last_month, habit_months
FROM per_key
WHERE habit_months >= %(min_habit_months)s
ORDER BY cut_day, user_id, category, currency;
