-- Revenue per currency over the same rows as revenue_page.sql, whole window.
-- Rendered with {table}.
SELECT t.currency, sum(t.revenue) AS revenue, sum(t.success_count)::bigint AS success_count
FROM {table} t
WHERE t.dimension = %(dimension)s
    AND (%(dimension_value)s::text IS NULL OR t.dimension_value = %(dimension_value)s)
    AND t.currency <> ''
    AND t.bucket_start >= %(window_start)s AND t.bucket_start < %(window_end)s
GROUP BY t.currency
ORDER BY t.currency
