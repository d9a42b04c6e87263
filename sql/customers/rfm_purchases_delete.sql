-- Forget the purchases of [first_day, last_day] before they are computed again.
DELETE FROM customers.rfm_daily_purchases WHERE day BETWEEN %(first_day)s AND %(last_day)s
