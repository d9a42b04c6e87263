-- Per segment and currency of a day: the look-back's purchases (monetary) and their share
-- of the currency's total (amounts of two currencies are never added).
SELECT segment, currency, sum(monetary) AS revenue,
    sum(monetary) / nullif(sum(sum(monetary)) OVER (PARTITION BY currency), 0) AS share
FROM customers.rfm_scores
WHERE day = %(day)s
GROUP BY segment, currency
ORDER BY segment, currency
