-- Statistics for the bulk first load's follow-up statements: its temporary tables are never
-- analyzed by autovacuum, and the profile tables were empty (or truncated with statistics of
-- an older content) when the load began, so without this the main-currency UPDATE can plan a
-- nested loop over a million users (measured: over 15 CPU minutes instead of about one).
-- ANALYZE samples this transaction's own uncommitted rows.
ANALYZE profile_day, profile_day_currencies, marts.customer_profiles,
    marts.customer_profile_currencies
