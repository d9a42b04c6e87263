-- The newest day a customer asset has materialized before %(before)s (NULL: none).
SELECT max(day) AS day
FROM marts.customer_days
WHERE asset = %(asset)s AND day < %(before)s
