-- Held to the end of the transaction that rebuilds local day %(day)s of
-- ml.budget_day_spend: two runs needing the same day take turns instead of both
-- inserting it.
SELECT pg_advisory_xact_lock(hashtext('ml.budget_day_spend'), %(day)s::date - date '2000-01-01');
