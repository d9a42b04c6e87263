-- Whether raw.<table> holds any row before %(before)s. Retention drops everything before
-- a month's end, so the months before it must already be empty; partition pruning (or
-- TimescaleDB's chunk exclusion) keeps this cheap when they are.
SELECT EXISTS (SELECT 1 FROM {table} WHERE occurred_at < %(before)s)
