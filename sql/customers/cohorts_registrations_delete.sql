-- Undo the registrations of the local days [registrations_from_day, %(day)s] before
-- writing them again.
DELETE FROM customers.cohort_registrations
WHERE day >= %(registrations_from_day)s AND day <= %(day)s
