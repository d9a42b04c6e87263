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
history AS (
    SELECT c.cut_day, d.user_id, d.category, d.currency,
           count(DISTINCT date_trunc('month', d.local_day)) AS habit_months,
           sum(d.spent) / %(history_months)s AS usual,
           sum(d.tx)::float8 / %(history_months)s AS usual_tx,
           coalesce(sum(d.spent) FILTER (
               WHERE extract(day FROM d.local_day) <= c.days_elapsed
           ), 0) / %(history_months)s AS usual_by_day,
           coalesce(sum(d.spent) FILTER (
               WHERE d.local_day >= c.month_start - interval '1 month'
           ), 0) AS last_month
    FROM cuts c
    JOIN daily d
      ON d.local_day >= c.month_start - make_interval(months => %(history_months)s)
     AND d.local_day < c.month_start
    GROUP BY 1, 2, 3, 4
),
so_far AS (
    SELECT c.cut_day, d.user_id, d.category, d.currency,
           sum(d.spent) AS spent_so_far, sum(d.tx) AS tx_so_far
    FROM cuts c
    JOIN daily d ON d.local_day >= c.month_start AND d.local_day <= c.cut_day
    GROUP BY 1, 2, 3, 4
)
SELECT h.cut_day, h.user_id, h.category, h.currency, c.days_elapsed, c.days_in_month,
       coalesce(s.spent_so_far, 0) AS spent_so_far, coalesce(s.tx_so_far, 0) AS tx_so_far,
       h.usual, h.usual_tx, h.usual_by_day, h.last_month, h.habit_months
FROM history h
JOIN cuts c USING (cut_day)
LEFT JOIN so_far s USING (cut_day, user_id, category, currency)
WHERE h.habit_months >= %(min_habit_months)s
ORDER BY h.cut_day, h.user_id, h.category, h.currency;
