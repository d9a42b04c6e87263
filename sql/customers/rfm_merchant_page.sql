-- One page of a merchant's customers scored on demand (GET /customers/rfm with a merchant
-- key; docs/customer-scores.md): the users with a successful purchase from `merchant_id`
-- in the look-back window (day - lookback_days, day] of the reporting zone `tz`, with
-- recency, frequency and monetary over that merchant's purchases only, scored against
-- that merchant's other customers.
--
-- Read through api.raw_transactions, which applies the session's scope
-- (api.scope_sees(merchant_id)): a merchant key's session sees its own rows only, so
-- even a wrong `merchant_id` could never reach another merchant's transactions.
--
-- Every rule is the platform's (rfm_purchases_insert.sql, rfm_scores_per_user.sql,
-- rfm_scores_insert.sql), applied to (merchant, user) instead of user: purchases are
-- SUCCESS PAYMENT and BILL_PAYMENT; frequency counts every currency; the main currency
-- has the most purchases, then the larger amount, then the lower code, and monetary is
-- its amount, scored only against customers of the same main currency; breakpoints are
-- percentile_disc at 20/40/60/80 percent and a score is 1 + the breakpoints strictly
-- below the value (equal values, equal scores); the segment is the rule table's cell map
-- (customers/segments.py cell_params). A test holds this file's scores equal to the
-- platform's on a world with one merchant, so the two cannot drift apart silently.
WITH purchases AS (
    SELECT user_id COLLATE "C" AS user_id, currency, count(*) AS payments,
        sum(amount) AS amount, max((occurred_at AT TIME ZONE %(tz)s)::date) AS last_day
    FROM api.raw_transactions
    WHERE merchant_id = %(merchant_id)s::text
        AND occurred_at >= ((%(day)s::date - %(lookback_days)s::integer + 1)::timestamp
            AT TIME ZONE %(tz)s)
        AND occurred_at < ((%(day)s::date + 1)::timestamp AT TIME ZONE %(tz)s)
        AND status = 'SUCCESS' AND transaction_type IN ('PAYMENT', 'BILL_PAYMENT')
    GROUP BY 1, 2
),
per_user AS MATERIALIZED (
    SELECT user_id,
        sum(payments)::integer AS frequency,
        max(last_day) AS last_day,
        (array_agg(currency ORDER BY payments DESC, amount DESC, currency))[1] AS currency,
        (array_agg(amount ORDER BY payments DESC, amount DESC, currency))[1] AS monetary
    FROM purchases
    GROUP BY user_id
),
quantiles AS (
    SELECT ARRAY[0.2, 0.4, 0.6, 0.8]::float8[] AS at
),
rf AS (
    SELECT percentile_disc((SELECT at FROM quantiles)) WITHIN GROUP (ORDER BY last_day) AS r_b,
        percentile_disc((SELECT at FROM quantiles)) WITHIN GROUP (ORDER BY frequency) AS f_b
    FROM per_user
),
m AS (
    SELECT currency,
        percentile_disc((SELECT at FROM quantiles)) WITHIN GROUP (ORDER BY monetary) AS m_b
    FROM per_user
    GROUP BY currency
),
scored AS (
    SELECT u.user_id, u.currency, %(day)s::date - u.last_day AS recency_days, u.frequency,
        u.monetary, u.last_day AS last_purchase_day,
        (1 + (SELECT count(*) FROM unnest(rf.r_b) AS b WHERE b < u.last_day))::smallint
            AS r_score,
        (1 + (SELECT count(*) FROM unnest(rf.f_b) AS b WHERE b < u.frequency))::smallint
            AS f_score,
        (1 + (SELECT count(*) FROM unnest(m.m_b) AS b WHERE b < u.monetary))::smallint
            AS m_score
    FROM per_user AS u
    CROSS JOIN rf
    JOIN m ON m.currency = u.currency
),
segmented AS (
    SELECT s.*,
        (%(cell_segments)s::text[])[(s.r_score - 1) * 25 + (s.f_score - 1) * 5 + s.m_score]
            AS segment
    FROM scored AS s
)
SELECT user_id, currency, recency_days, frequency, monetary, last_purchase_day,
    r_score, f_score, m_score, segment
FROM segmented
WHERE user_id > %(after)s::text COLLATE "C"
    AND (%(segment)s::text IS NULL OR segment = %(segment)s::text)
    AND (%(currency)s::text IS NULL OR currency = %(currency)s::text)
    AND r_score BETWEEN %(min_r)s AND %(max_r)s
    AND f_score BETWEEN %(min_f)s AND %(max_f)s
    AND m_score BETWEEN %(min_m)s AND %(max_m)s
ORDER BY user_id
LIMIT %(limit)s
