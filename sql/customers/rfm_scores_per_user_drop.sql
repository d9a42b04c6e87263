-- The per-user temporary table of one day (a range run scores several days in one
-- transaction, each from its own).
DROP TABLE IF EXISTS pg_temp.rfm_per_user
