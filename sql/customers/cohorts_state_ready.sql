-- Whether cohort day %(day)s can be computed from the day before: that day's cells were
-- written (marts.customer_days) by a run that also wrote the carried state
-- (customers.cohort_state_days: every registration up to it, the user days of its periods).
SELECT EXISTS (
        SELECT 1 FROM marts.customer_days
        WHERE asset = %(asset)s AND day = %(day)s::date - 1
    ) AND EXISTS (
        SELECT 1 FROM customers.cohort_state_days WHERE day = %(day)s::date - 1
    ) AS ready
