DELETE FROM customers.rfm_purchase_days WHERE day BETWEEN %(first_day)s AND %(last_day)s
