-- Undo the user days of [user_days_from_day, %(day)s] before writing them again.
DELETE FROM customers.cohort_user_days WHERE day >= %(user_days_from_day)s AND day <= %(day)s
