-- customers/spending: the month's share is computed on read (sql/customers/spending_as_of.sql)
-- instead of stored. Stored, it changed for every category of a user whenever any of
-- them did, so a day wrote a version of every category of every changed user (186,000-
-- 360,000 rows a day at the benchmark's scale); now a day writes only the categories
-- paid on it (or on the newly compared day) and the all-categories rows. Versions
-- written before keep their meaning: as of any day, the share read is the same.
ALTER TABLE marts.customer_spending DROP COLUMN IF EXISTS month_share;
