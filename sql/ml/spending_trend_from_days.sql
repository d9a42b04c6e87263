-- SPENDING_TREND of day %(day)s from ml.spend_day_stats: the same rows as
-- spending_trend.sql (the raw-reading reference, read where local days are not whole;
-- keep the two alike below the cells), whose cells are sums of the daily rows of the
-- %(window_days)s x %(windows)s local days ending with the day.
WITH cells AS (
    -- Per window: the days' sums (NULL spend when no day had any: the row then only
    -- marks the window active, as a raw non-spend transaction does).
    SELECT s.user_id, s.currency, s.category,
           (%(day)s::date - s.day) / %(window_days)s AS w,
           sum(s.spend) AS spend, sum(s.purchases) AS purchases, sum(s.sum_sq) AS sum_sq
    FROM ml.spend_day_stats s
    WHERE s.day > %(day)s::date - %(window_days)s * %(windows)s
      AND s.day <= %(day)s::date
    GROUP BY 1, 2, 3, 4
),
active AS (
    -- Pairs active in window 0 with enough earlier active windows.
    SELECT user_id, currency, array_agg(DISTINCT w ORDER BY w) FILTER (WHERE w > 0) AS history
    FROM cells
    GROUP BY 1, 2
    HAVING bool_or(w = 0) AND count(DISTINCT w) FILTER (WHERE w > 0) >= %(min_history)s
),
grid AS (
    -- Every spend category of a pair in every earlier active window (0 when nothing).
    SELECT k.user_id, k.currency, k.category, h.w,
           greatest(coalesce(x.spend, 0), 0) AS spend, coalesce(x.purchases, 0) AS purchases,
           coalesce(x.sum_sq, 0) AS sum_sq
    FROM (SELECT DISTINCT user_id, currency, category FROM cells WHERE spend IS NOT NULL) k
    JOIN active a ON a.user_id = k.user_id AND a.currency = k.currency
    CROSS JOIN LATERAL unnest(a.history) AS h(w)
    LEFT JOIN cells x
      ON x.user_id = k.user_id AND x.currency = k.currency AND x.category = k.category AND x.w = h.w
),
history AS (
    SELECT user_id, currency, category, count(*)::int AS n,
           array_agg(spend ORDER BY w) AS by_window,
           array_agg(spend ORDER BY spend) AS s,
           array_agg(purchases ORDER BY purchases) AS p,
           sum(sum_sq) / nullif(sum(purchases), 0) AS mean_sq_amount
    FROM grid
    GROUP BY 1, 2, 3
),
usual AS (
    -- Exact medians: the middle element, or the mean of the two middle ones.
    SELECT h.*, (s[(n + 1) / 2] + s[n / 2 + 1]) / 2 AS usual,
           (p[(n + 1) / 2] + p[n / 2 + 1]) / 2.0 AS usual_purchases
    FROM history h
),
spread AS (
    SELECT u.*,
           (SELECT (d[(u.n + 1) / 2] + d[u.n / 2 + 1]) / 2
            FROM (SELECT array_agg(abs(x - u.usual) ORDER BY abs(x - u.usual)) AS d
                  FROM unnest(u.s) AS x) AS deviations) AS mad
    FROM usual u
    WHERE u.usual > 0 AND u.usual_purchases >= %(min_usual_purchases)s
),
totals AS (
    -- The pair's usual (median) total monthly spend, over the same windows.
    SELECT user_id, currency, count(*)::int AS n, array_agg(total ORDER BY total) AS t
    FROM (SELECT user_id, currency, w, sum(spend) AS total FROM grid GROUP BY 1, 2, 3) per_window
    GROUP BY 1, 2
),
scored AS (
    SELECT s.user_id, s.currency, s.category, s.usual, s.by_window, s.mad, s.usual_purchases,
           (t.t[(t.n + 1) / 2] + t.t[t.n / 2 + 1]) / 2 AS usual_total,
           greatest(coalesce(c.spend, 0), 0) AS current_spend,
           greatest(%(mad_to_sigma)s * s.mad::float8,
                    %(spread_floor)s * s.usual::float8,
                    sqrt(s.usual_purchases * s.mean_sq_amount::float8)) AS spread
    FROM spread s
    JOIN totals t ON t.user_id = s.user_id AND t.currency = s.currency
    LEFT JOIN cells c
      ON c.user_id = s.user_id AND c.currency = s.currency AND c.category = s.category AND c.w = 0
),
flagged AS (
    SELECT user_id, currency, category, current_spend, usual, by_window,
           usual_purchases::float8 AS usual_purchases, usual_total, spread,
           (current_spend - usual)::float8 / spread AS z
    FROM scored
    WHERE abs((current_spend - usual)::float8 / spread) >= %(z_threshold)s
      AND abs(current_spend - usual) >= %(min_budget_share)s * usual_total
)
-- The pairs judged (enough history) on every row; one row of NULLs when none is flagged.
SELECT e.judged, f.user_id, f.currency, f.category, f.current_spend, f.usual, f.by_window,
       f.usual_purchases, f.usual_total, f.spread, f.z
FROM (SELECT count(*) AS judged FROM active) e
LEFT JOIN flagged f ON true;
