DELETE FROM customers.rfm_breakpoints WHERE day = %(day)s
