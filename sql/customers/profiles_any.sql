-- Whether any profile version exists (a bulk first load only goes into empty tables).
SELECT EXISTS (SELECT 1 FROM marts.customer_profiles) AS any_version
