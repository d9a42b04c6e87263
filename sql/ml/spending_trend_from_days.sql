-- SPENDING_TREND of day %(day)s from ml.spend_day_stats: the same rows as
-- spending_trend.sql (the raw-reading reference, read where local days are not whole;
-- keep the two alike below the cells), whose cells are sums of the daily rows of the
-- %(window_days)s x %(windows)s local days ending with the day, read from the carried
-- ml.spending_trend_cells (spending_trend_cells.prepare makes them the day's first).
WITH cells AS NOT MATERIALIZED (
    -- Per window: the days' sums, carried from day to day in ml.spending_trend_cells
    -- (spending_trend_cells.py put them there as of the day: NULL spend when no day had
    -- any, the row then only marks the window active, as a raw non-spend transaction
    -- does). Not materialized: the steps below that need few cells look them up by key.
    SELECT c.user_id, c.currency, c.category, c.w::integer AS w,
           CASE WHEN c.spend_rows > 0 THEN c.spend END AS spend, c.purchases, c.sum_sq
    FROM ml.spending_trend_cells c
),
bounds AS (
    -- The one pass over every cell, per category: its windows (a bit each), and what
    -- bounds its usual (median) spend and purchases without sorting its windows
    -- (history: the n earlier windows of its pair, 0 where a window has no cell).
    SELECT user_id, currency, category,
           bit_or(1 << w) AS windows,
           bool_or(spend IS NOT NULL) AS any_spend,
           coalesce(sum(greatest(coalesce(spend, 0), 0)) FILTER (WHERE w > 0), 0) AS total,
           coalesce(max(greatest(coalesce(spend, 0), 0)) FILTER (WHERE w > 0), 0) AS top,
           greatest(coalesce(min(spend) FILTER (WHERE w = 0), 0), 0) AS current_spend,
           coalesce(sum(purchases) FILTER (WHERE w > 0), 0) AS purchases,
           count(*) FILTER (WHERE w > 0 AND purchases >= %(min_usual_purchases)s) AS busy
    FROM cells
    GROUP BY 1, 2, 3
),
active AS (
    -- Pairs active in window 0 with enough earlier active windows (history: those
    -- windows, ascending).
    SELECT user_id, currency, history
    FROM (SELECT user_id, currency, windows,
                 nullif(ARRAY(SELECT g FROM generate_series(1, %(windows)s - 1) AS g
                       WHERE windows & (1 << g) <> 0), '{}') AS history
          FROM (SELECT user_id, currency, bit_or(windows) AS windows
                FROM bounds GROUP BY 1, 2) AS pairs) AS p
    WHERE windows & 1 = 1 AND cardinality(history) >= %(min_history)s
),
candidates AS (
    -- The categories that can be flagged: of n values >= 0 with sum S and largest M the
    -- median lies in [L, U] = [(S - (n - n/2 - 1) M) / (n/2 + 1), S / (n/2 + 1)] (the
    -- top n - n/2 values are at least the median, the bottom n/2 + 1 at most it), at
    -- least n - n/2 of them are at least the median, and spread >= spread_floor x usual,
    -- so |z| >= z_threshold needs current >= (1 + z_threshold x spread_floor) L or
    -- current <= (1 - z_threshold x spread_floor) U (with a 1e-6 slack for float8's
    -- rounding in the test itself). The others never reach `flagged`: skipping them
    -- changes no row and spares sorting the windows of nine categories in ten.
    SELECT b.user_id, b.currency, b.category, a.history
    FROM bounds b
    JOIN active a ON a.user_id = b.user_id AND a.currency = b.currency
    CROSS JOIN LATERAL (SELECT cardinality(a.history) AS n) AS c
    WHERE b.any_spend AND b.total > 0
      AND (%(min_usual_purchases)s <= 0
           OR (b.busy >= c.n - c.n / 2
               AND b.purchases >= (c.n / 2 + 1) * %(min_usual_purchases)s))
      AND (b.current_spend::float8
               >= (1 + %(z_threshold)s * %(spread_floor)s - 1e-6)
                  * greatest(0, (b.total - (c.n - c.n / 2 - 1) * b.top) / (c.n / 2 + 1))::float8
           OR b.current_spend::float8
               <= (1 - %(z_threshold)s * %(spread_floor)s + 1e-6)
                  * (b.total / (c.n / 2 + 1))::float8)
),
keyed AS (
    -- Per candidate category (a category with a spend in some window): its earlier
    -- windows' values, sorted, and this window's spend. spending_trend.sql builds the
    -- grid of every category x earlier window (0 where a window has no cell) and
    -- aggregates that; here only the cells present are aggregated and the missing
    -- windows are the n - k zeros put first (every value is >= 0): the same arrays and
    -- sums without the join of each category to every window (two thirds of the step's
    -- CPU at 20,000 users, issue 14).
    SELECT c.user_id, c.currency, c.category, a.history, cardinality(a.history) AS n,
           count(*) FILTER (WHERE c.w > 0) AS k,
           array_agg(greatest(coalesce(c.spend, 0), 0)
                     ORDER BY greatest(coalesce(c.spend, 0), 0)) FILTER (WHERE c.w > 0)
               AS present_s,
           array_agg(coalesce(c.purchases, 0) ORDER BY coalesce(c.purchases, 0))
               FILTER (WHERE c.w > 0) AS present_p,
           sum(coalesce(c.sum_sq, 0)) FILTER (WHERE c.w > 0) AS sum_sq,
           sum(coalesce(c.purchases, 0)) FILTER (WHERE c.w > 0) AS purchases,
           min(c.spend) FILTER (WHERE c.w = 0) AS current_spend
    FROM cells c
    JOIN candidates a
      ON a.user_id = c.user_id AND a.currency = c.currency AND a.category = c.category
    GROUP BY c.user_id, c.currency, c.category, a.history
),
history AS (
    SELECT user_id, currency, category, history, n, current_spend,
           array_fill(0::numeric, ARRAY[(n - k)::int]) || coalesce(present_s, '{}') AS s,
           array_fill(0::bigint, ARRAY[(n - k)::int]) || coalesce(present_p, '{}') AS p,
           sum_sq / nullif(purchases, 0) AS mean_sq_amount
    FROM keyed
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
totals AS MATERIALIZED (
    -- The pair's usual (median) total monthly spend, over the same windows: a window's
    -- total is its cells' (a category without any spend adds 0, as in the grid); only
    -- for the pairs with a candidate.
    SELECT user_id, currency, count(*)::int AS n, array_agg(total ORDER BY total) AS t
    FROM (SELECT c.user_id, c.currency, c.w, sum(greatest(coalesce(c.spend, 0), 0)) AS total
          FROM cells c
          JOIN (SELECT DISTINCT user_id, currency FROM candidates) a
            ON a.user_id = c.user_id AND a.currency = c.currency
          WHERE c.w > 0
          GROUP BY 1, 2, 3) per_window
    GROUP BY 1, 2
),
scored AS (
    SELECT s.user_id, s.currency, s.category, s.history, s.usual, s.mad, s.usual_purchases,
           (t.t[(t.n + 1) / 2] + t.t[t.n / 2 + 1]) / 2 AS usual_total,
           greatest(coalesce(s.current_spend, 0), 0) AS current_spend,
           greatest(%(mad_to_sigma)s * s.mad::float8,
                    %(spread_floor)s * s.usual::float8,
                    sqrt(s.usual_purchases * s.mean_sq_amount::float8)) AS spread
    FROM spread s
    JOIN totals t ON t.user_id = s.user_id AND t.currency = s.currency
),
flagged AS (
    SELECT user_id, currency, category, history, current_spend, usual,
           usual_purchases::float8 AS usual_purchases, usual_total, spread,
           (current_spend - usual)::float8 / spread AS z
    FROM scored
    WHERE abs((current_spend - usual)::float8 / spread) >= %(z_threshold)s
      AND abs(current_spend - usual) >= %(min_budget_share)s * usual_total
),
with_windows AS (
    -- The flagged categories with their spend per earlier window, most recent first.
    SELECT f.user_id, f.currency, f.category, f.current_spend, f.usual,
           array_agg(greatest(coalesce(x.spend, 0), 0) ORDER BY h.w) AS by_window,
           f.usual_purchases, f.usual_total, f.spread, f.z
    FROM flagged f
    CROSS JOIN LATERAL unnest(f.history) AS h(w)
    LEFT JOIN cells x
      ON x.user_id = f.user_id AND x.currency = f.currency AND x.category = f.category AND x.w = h.w
    GROUP BY f.user_id, f.currency, f.category, f.current_spend, f.usual, f.usual_purchases,
             f.usual_total, f.spread, f.z
)
-- The pairs judged (enough history) on every row; one row of NULLs when none is flagged.
SELECT e.judged, f.user_id, f.currency, f.category, f.current_spend, f.usual, f.by_window,
       f.usual_purchases, f.usual_total, f.spread, f.z
FROM (SELECT count(*) AS judged FROM active) e
LEFT JOIN with_windows f ON true;
