-- Per user of `day`'s state (dropped again once the day's scores are written): frequency =
-- purchases in the window in every currency; the last purchase day; the main currency
-- (most purchases, then the larger amount, then the currency code) and its amount.
--
-- A statement of its own, into a temporary table, so that PostgreSQL may run it in
-- parallel: the sort of a million state rows by user is the day's largest single cost, and
-- an INSERT ... SELECT never runs its SELECT in parallel (PostgreSQL 15/16), while a
-- CREATE TABLE AS does. Its rows come out in user order (a merge of the workers' sorts),
-- which keeps the scores' INSERT into its primary key cheap.
CREATE TEMP TABLE rfm_per_user AS
SELECT user_id,
    sum(payments)::integer AS frequency,
    max(last_day) AS last_day,
    (array_agg(currency ORDER BY payments DESC, amount DESC, currency))[1] AS currency,
    (array_agg(amount ORDER BY payments DESC, amount DESC, currency))[1] AS monetary
FROM customers.rfm_state
WHERE day = %(day)s
GROUP BY user_id
