-- One run of a customer asset at a time (until COMMIT): a day builds on the one before,
-- and the API's cache relies on materialization times growing with every commit.
SELECT pg_advisory_xact_lock(hashtext('customers:' || %(asset)s))
