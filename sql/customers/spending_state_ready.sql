-- Whether spending day %(day)s can be computed from the day before: the day is a month's
-- first (nothing of the month to carry), or the day before was written (marts.customer_days)
-- with its state (customers.spending_state_days), which holds the month to date.
SELECT %(day)s::date = %(month)s::date OR (
        EXISTS (
            SELECT 1 FROM marts.customer_days
            WHERE asset = %(asset)s AND day = %(day)s::date - 1
        ) AND EXISTS (
            SELECT 1 FROM customers.spending_state_days WHERE day = %(day)s::date - 1
        )
    ) AS ready
