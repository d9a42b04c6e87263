-- Transactions rollup of one grain over [window_start, window_end): one row per bucket
-- and (dimension, dimension_value, currency); see sql/migrations/008_marts_rollups.sql
-- for the table. Rendered per grain: {table} is the mart, {grain} the bucket unit.
--
-- Everything comes from raw for the bucket, so unique payers and latency percentiles are
-- exact at every grain. How, and why this shape (measured on a day of 1M transactions:
-- sorting on text keys costs about 1 us per row and sort, hashing a fraction of that):
-- - One bucket at a time (LATERAL over marts.bucket_series, the partitions' own bucket
--   boundaries): no per-row time zone arithmetic, and memory is bounded by one bucket.
-- - All six groupings are HASHED in one pass over the bucket (GROUPING SETS). Hashing
--   cannot evaluate ordered aggregates, so each group collects its latencies and payers
--   in arrays (array_agg is plain), and the exact figures are taken from those arrays.
-- - Latencies: the bucket's rows are fed to the aggregate sorted by processing_ms, and a
--   hash aggregate appends in input order (also when it spills: a group's rows are
--   spilled and read back in order), so every group's array comes out sorted; this is
--   PostgreSQL's documented way of ordering aggregate input ("supplying the input values
--   from a sorted subquery"). A sort-based grouping would reorder the rows, so every
--   grouping set includes `hash_only`, a constant of type xid: xid can be hashed but not
--   sorted, which leaves the planner no other plan than hashing, whatever the settings
--   and estimates. Each percentile is then two array lookups, interpolated exactly as
--   percentile_cont does (marts.percentile_cont_sorted).
-- - Unique payers: count(DISTINCT) over 64-bit hashes of user_id, several times cheaper
--   to sort than the text. Exact because the window's payers are checked to have
--   different hashes (`payer_hash_check`, one pass); should two ever collide (a chance
--   of about 3e-10 with 100,000 payers), the window counts the user ids themselves
--   instead (`exact_payers`, the slow way, evaluated only then).
-- Text keys use the "C" collation: byte order, and equal strings group as before.
WITH payer_hash_check AS (
    SELECT count(*) = count(DISTINCT hashtextextended(user_id, 0)) AS all_different
    FROM (
        SELECT DISTINCT user_id
        FROM raw.transactions
        WHERE occurred_at >= %(window_start)s AND occurred_at < %(window_end)s
            AND status = 'SUCCESS'
    ) AS window_payers
),
grouped AS (
    SELECT b.bucket_start, g.*
    FROM marts.bucket_series({grain}, %(tz)s, %(window_start)s, %(window_end)s) AS b
    CROSS JOIN LATERAL (
        SELECT
            CASE
                WHEN GROUPING(merchant_id) = 0 THEN 'merchant'
                WHEN GROUPING(category) = 0 THEN 'category'
                WHEN GROUPING(transaction_type) = 0 THEN 'transaction_type'
                WHEN GROUPING(payment_method) = 0 THEN 'payment_method'
                ELSE 'platform'
            END AS dimension,
            -- At most one of these is grouped (and merchant-less rows are dropped below).
            coalesce(merchant_id, category, transaction_type, payment_method, '') AS dimension_value,
            GROUPING(currency) = 1 AS all_currencies,
            coalesce(currency, '') AS currency,
            count(*) AS transaction_count,
            count(*) FILTER (WHERE is_success) AS success_count,
            count(*) FILTER (WHERE is_failed) AS failed_count,
            count(*) FILTER (WHERE is_expired) AS expired_count,
            count(*) FILTER (WHERE is_pending) AS pending_count,
            count(*) FILTER (WHERE is_refunded) AS refunded_count,
            coalesce(sum(amount) FILTER (WHERE is_success), 0) AS revenue,
            count(*) FILTER (WHERE is_refund) AS refund_count,
            coalesce(sum(amount) FILTER (WHERE is_refund), 0) AS refund_amount,
            array_agg(payer_hash) FILTER (WHERE is_success) AS payer_hashes,
            sum(retry_count) AS retries,
            count(*) FILTER (WHERE retry_count > 0) AS retried_count,
            count(*) FILTER (WHERE retry_count > 0 AND is_success) AS retried_success_count,
            avg(processing_ms) AS latency_avg_ms,
            array_agg(processing_ms) AS latencies
        FROM (
            -- Status is tested once per row into booleans: the FILTERs then cost a flag
            -- check per grouping set, not a text comparison.
            SELECT
                merchant_id COLLATE "C" AS merchant_id,
                category COLLATE "C" AS category,
                transaction_type COLLATE "C" AS transaction_type,
                payment_method COLLATE "C" AS payment_method,
                currency COLLATE "C" AS currency,
                status = 'SUCCESS' AS is_success,
                status = 'FAILED' AS is_failed,
                status = 'EXPIRED' AS is_expired,
                status = 'PENDING' AS is_pending,
                status = 'REFUNDED' AS is_refunded,
                status = 'SUCCESS' AND transaction_type = 'REFUND' AS is_refund,
                CASE WHEN status = 'SUCCESS' THEN hashtextextended(user_id, 0) END AS payer_hash,
                amount, processing_ms, retry_count,
                '0'::xid AS hash_only
            FROM raw.transactions
            WHERE occurred_at >= b.bucket_start AND occurred_at < b.bucket_end
            ORDER BY processing_ms
        ) AS source
        GROUP BY GROUPING SETS (
            (hash_only),
            (hash_only, currency),
            (hash_only, merchant_id, currency),
            (hash_only, category, currency),
            (hash_only, transaction_type, currency),
            (hash_only, payment_method, currency)
        )
        HAVING GROUPING(merchant_id) = 1 OR merchant_id IS NOT NULL
    ) AS g
),
exact_payers AS MATERIALIZED (
    -- Unique payers counted on the user ids: only computed (once) if the window's payers'
    -- hashes collide, since only then does the INSERT below read it.
    SELECT b.bucket_start, e.*
    FROM marts.bucket_series({grain}, %(tz)s, %(window_start)s, %(window_end)s) AS b
    CROSS JOIN LATERAL (
        SELECT
            CASE
                WHEN GROUPING(merchant_id) = 0 THEN 'merchant'
                WHEN GROUPING(category) = 0 THEN 'category'
                WHEN GROUPING(transaction_type) = 0 THEN 'transaction_type'
                WHEN GROUPING(payment_method) = 0 THEN 'payment_method'
                ELSE 'platform'
            END AS dimension,
            coalesce(merchant_id, category, transaction_type, payment_method, '') AS dimension_value,
            coalesce(currency, '') AS currency,
            count(DISTINCT user_id) AS unique_payers
        FROM (
            SELECT
                merchant_id COLLATE "C" AS merchant_id,
                category COLLATE "C" AS category,
                transaction_type COLLATE "C" AS transaction_type,
                payment_method COLLATE "C" AS payment_method,
                currency COLLATE "C" AS currency,
                user_id COLLATE "C" AS user_id
            FROM raw.transactions
            WHERE occurred_at >= b.bucket_start AND occurred_at < b.bucket_end
                AND status = 'SUCCESS'
        ) AS paid
        GROUP BY GROUPING SETS (
            (),
            (currency),
            (merchant_id, currency),
            (category, currency),
            (transaction_type, currency),
            (payment_method, currency)
        )
        HAVING GROUPING(merchant_id) = 1 OR merchant_id IS NOT NULL
    ) AS e
)
INSERT INTO {table} (
    bucket_start, dimension, dimension_value, currency,
    transaction_count, success_count, failed_count, expired_count, pending_count,
    refunded_count, success_rate, revenue, average_value, refund_count, refund_amount,
    unique_payers, retries, retried_count, retried_success_count,
    latency_avg_ms, latency_p50_ms, latency_p95_ms, latency_p99_ms
)
SELECT
    g.bucket_start, g.dimension, g.dimension_value, g.currency,
    transaction_count, success_count, failed_count, expired_count, pending_count,
    refunded_count,
    success_count::numeric / nullif(success_count + failed_count + expired_count, 0),
    -- Amounts in different currencies do not add up: NULL on the all-currency row.
    CASE WHEN NOT all_currencies THEN revenue END,
    CASE WHEN NOT all_currencies THEN revenue / nullif(success_count, 0) END,
    refund_count,
    CASE WHEN NOT all_currencies THEN refund_amount END,
    CASE
        WHEN NOT (SELECT all_different FROM payer_hash_check) THEN coalesce((
            SELECT e.unique_payers
            FROM exact_payers AS e
            WHERE e.bucket_start = g.bucket_start AND e.dimension = g.dimension
                AND e.dimension_value = g.dimension_value AND e.currency = g.currency
        ), 0)
        WHEN payer_hashes IS NULL THEN 0
        WHEN cardinality(payer_hashes) = 1 THEN 1
        ELSE (SELECT count(DISTINCT h) FROM (SELECT unnest(payer_hashes) AS h) AS u)
    END,
    retries, retried_count, retried_success_count,
    latency_avg_ms,
    marts.percentile_cont_sorted(latencies, 0.5),
    marts.percentile_cont_sorted(latencies, 0.95),
    marts.percentile_cont_sorted(latencies, 0.99)
FROM grouped AS g
