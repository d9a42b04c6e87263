-- The previous day's state record, when it was built with the same look-back and its
-- rows are still there: the state is UNLOGGED (rfm_state_logged_partitions.sql), so a
-- crash or a failover to a replica keeps the record but empties the rows (a state with
-- payments has rows).
SELECT d.payments, d.amount
FROM customers.rfm_state_days AS d
WHERE d.day = %(previous_day)s AND d.lookback_days = %(lookback_days)s
    AND (d.payments = 0 OR EXISTS (
        SELECT 1 FROM customers.rfm_state AS s WHERE s.day = %(previous_day)s))
