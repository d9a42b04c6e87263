-- Held to the end of the transaction that rebuilds local day %(day)s of ml.spend_day_stats
-- and ml.wallet_day_stats: two runs needing the same day take turns instead of both
-- inserting it.
SELECT pg_advisory_xact_lock(hashtext('ml.ledger_day_stats'), %(day)s::date - date '2000-01-01');
